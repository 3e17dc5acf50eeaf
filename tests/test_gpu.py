"""GPU checks, skipped without CUDA: dilated attention and the slide encoder give the CPU's results on a GPU
(float32 without TF32, and bf16 through PyTorch's flash / memory-efficient kernels), and a 100k-tile slide
fits. Run them on a GPU machine with `HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/test_gpu.py -s`;
the GPU speed table is `benchmarks/bench_slide_encoder.py --device cuda` (see benchmarks/README.md)."""
import pytest
import torch

from gigapath_nb.dilated_attention import dilated_attention
from gigapath_nb.slide_encoder import create_model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().float().cpu(), b.detach().float().cpu()
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(autouse=True)
def exact_float32():
    "TF32 matmuls would make float32 GPU results differ from the CPU's by ~1e-3."
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


def tiles(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    "Random tile embeddings [1, n, 1536] on distinct cells of a square grid of 256-px tiles."
    g = torch.Generator().manual_seed(seed)
    side = int(n ** 0.5) + 1
    cells = torch.randperm(side * side, generator=g)[:n]
    return torch.randn(1, n, 1536, generator=g), (torch.stack([cells // side, cells % side], -1) * 256)[None].float()


@pytest.mark.parametrize("mask_padding", [False, True])
def test_dilated_attention_matches_cpu(mask_padding):
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3000, 16, 48) for _ in range(3))
    kpm = torch.zeros(2, 3000, dtype=torch.bool)
    kpm[1, 2500:] = True                                        # the second sequence is 500 tokens shorter
    sched = ([1024, 2048, 4096], [1, 2, 4])
    kw = dict(mask_padding=mask_padding, key_padding_mask=kpm if mask_padding else None)
    cpu = dilated_attention(q, k, v, *sched, **kw)
    kw_gpu = {**kw, "key_padding_mask": None if kw["key_padding_mask"] is None else kpm.cuda()}
    gpu = dilated_attention(q.cuda(), k.cuda(), v.cuda(), *sched, **kw_gpu)
    gpu16 = dilated_attention(*(t.cuda().bfloat16() for t in (q, k, v)), *sched, **kw_gpu)
    print(f"mask_padding={mask_padding}: float32 {rel(gpu, cpu):.1e}, bf16 {rel(gpu16, cpu):.1e}")
    assert rel(gpu, cpu) < 1e-4 and rel(gpu16, cpu) < 2e-2


def test_dilated_attention_gradients_match_cpu():
    torch.manual_seed(1)
    q, k, v = (torch.randn(1, 1500, 8, 32) for _ in range(3))
    grads = []
    for dev in ("cpu", "cuda"):
        qd, kd, vd = (t.detach().to(dev).requires_grad_() for t in (q, k, v))
        dilated_attention(qd, kd, vd, [512, 1024, 2048], [1, 2, 4]).square().sum().backward()
        grads.append([t.grad for t in (qd, kd, vd)])
    for g_cpu, g_gpu in zip(*grads):
        assert rel(g_gpu, g_cpu) < 1e-3


def test_slide_encoder_matches_cpu():
    model = create_model("", "gigapath_slide_enc12l768d", 1536, global_pool=True).eval()
    x, coords = tiles(3000)
    with torch.inference_mode():
        cpu = model(x, coords)[0]
        model.cuda()
        gpu = model(x.cuda(), coords.cuda())[0]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            gpu16 = model(x.cuda(), coords.cuda())[0]
    print(f"slide embedding, GPU vs CPU: float32 {rel(gpu, cpu):.1e}, bf16 {rel(gpu16, cpu):.1e}")
    assert rel(gpu, cpu) < 1e-4 and rel(gpu16, cpu) < 2e-2


def test_slide_encoder_100k_tiles_bf16():
    model = create_model("", "gigapath_slide_enc12l768d", 1536, global_pool=True).eval().cuda()
    x, coords = tiles(100_000)
    torch.cuda.reset_peak_memory_stats()
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16):
        emb = model(x.cuda(), coords.cuda())[0]
    print(f"100,000 tiles in bf16: peak GPU memory {torch.cuda.max_memory_allocated() / 2 ** 30:.2f} GiB")
    assert emb.shape == (1, 768) and torch.isfinite(emb).all()

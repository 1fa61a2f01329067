"""train_step.py — a few training steps of a small MLP with NVTX ranges, for
`gpuops profile --nvtx` (docs/profile.md). Each step: a batch built on the
CPU and copied to the GPU (pageable, as naive loaders do), forward, backward,
optimizer, each inside a torch.cuda.nvtx range.

    python3 train_step.py [STEPS]
"""
import sys
import time

import torch

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 30
torch.manual_seed(0)
dev = torch.device("cuda")
model = torch.nn.Sequential(
    torch.nn.Linear(1024, 4096), torch.nn.GELU(),
    torch.nn.Linear(4096, 4096), torch.nn.GELU(),
    torch.nn.Linear(4096, 10),
).to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
loss_fn = torch.nn.CrossEntropyLoss()
t0 = time.perf_counter()
for step in range(steps):
    torch.cuda.nvtx.range_push("train_step")
    torch.cuda.nvtx.range_push("data")
    x = torch.randn(512, 1024).to(dev)
    y = torch.randint(0, 10, (512,)).to(dev)
    torch.cuda.nvtx.range_pop()
    torch.cuda.nvtx.range_push("forward")
    loss = loss_fn(model(x), y)
    torch.cuda.nvtx.range_pop()
    torch.cuda.nvtx.range_push("backward")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.cuda.nvtx.range_pop()
    torch.cuda.nvtx.range_push("optimizer")
    opt.step()
    torch.cuda.nvtx.range_pop()
    torch.cuda.nvtx.range_pop()
torch.cuda.synchronize()
print(f"train_step: {steps} steps, loss {loss.item():.4f}, {1e3 * (time.perf_counter() - t0) / steps:.2f} ms/step")

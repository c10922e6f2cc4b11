"""Two real processes (torch.distributed, gloo): identical lrs on both ranks, identical resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import lrkit
from lrkit.torch import Scheduler

STEPS, STOP = 40, 23
SCHEDULE = lrkit.warmup(lrkit.cosine(init=0.1, steps=STEPS, end=0.001),
                        warmup_steps=5) * lrkit.plateau(factor=0.5, patience=1)


def build(seed: int) -> tuple[torch.nn.Module, torch.optim.Optimizer, Scheduler]:
    torch.manual_seed(seed)
    model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 1))
    opt = torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.9)
    oc = lrkit.one_cycle(peak=1.0, steps=STEPS)
    return model, opt, Scheduler(opt, {"lr": SCHEDULE, "momentum": oc.momentum()})


def train(model: torch.nn.Module, opt: torch.optim.Optimizer, sched: Scheduler, rank: int,
          steps: range) -> list[list[float]]:
    out = []
    for k in steps:
        g = torch.Generator().manual_seed(1000 * k + rank)  # each rank its own shard
        x = torch.randn(16, 8, generator=g)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        metric = loss.detach().clone()
        dist.all_reduce(metric)  # the plateau sees the same (global) metric on every rank
        sched.step(metric / dist.get_world_size() if k % 4 == 3 else None)
        mine = torch.tensor([opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]],
                            dtype=torch.float64)
        both = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
        dist.all_gather(both, mine)
        out.append([v for t in both for v in t.tolist()])
    return out


def worker(rank: int, world: int, tmp: str) -> None:
    # rendezvous through a file: no port to pick, so no race with other tests for it
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank,
                            world_size=world)
    try:
        model, opt, sched = build(0)
        full = train(model, opt, sched, rank, range(STEPS))

        model, opt, sched = build(0)
        train(model, opt, sched, rank, range(STOP))
        ckpt = Path(tmp) / "ckpt.pt"
        if rank == 0:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict()}, ckpt)
        dist.barrier()
        state = torch.load(ckpt, weights_only=True)
        model, opt, sched = build(rank + 7)  # different init: everything comes from rank 0
        if rank == 1:  # the other load order on the other rank
            opt.load_state_dict(state["opt"])
            sched.load_state_dict(state["sched"])
        else:
            sched.load_state_dict(state["sched"])
            opt.load_state_dict(state["opt"])
        model.load_state_dict(state["model"])
        rest = train(model, opt, sched, rank, range(STOP, STEPS))
        Path(tmp, f"rank{rank}.json").write_text(json.dumps({"full": full, "rest": rest}))
        dist.barrier()  # no collective in flight when the group is torn down
    finally:
        dist.destroy_process_group()
    # Reached only on success. Leave without running C++ static destructors: under load,
    # torch 2.13's gloo teardown at interpreter exit sometimes aborts ("terminate called
    # without an active exception", SIGABRT) after all the work above is done and saved.
    os._exit(0)


def test_two_ranks_agree_and_resume_identically(tmp_path: Path) -> None:
    mp.spawn(worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0 == r1  # all_gather'ed values: both ranks see the same table
    for row in r0["full"]:
        assert row[:2] == row[2:]  # rank 0's (lr, momentum) == rank 1's, bit for bit
    assert r0["rest"] == r0["full"][STOP:]  # resumed == uninterrupted
    base = SCHEDULE.values(STEPS + 1)[1:]  # row k holds the lr after k + 1 steps
    assert r0["full"][-1][0] <= 0.5 * base[-1]  # the plateau did reduce

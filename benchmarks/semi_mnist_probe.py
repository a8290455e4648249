"""Probe: Improved GAN's semi-supervised MNIST loop written out by hand, with the knobs that differ.

Issue 22 compared the ``semi-mnist`` recipe with openai/improved-gan's
``train_mnist_feature_matching.py`` point by point; this loop is that comparison's workbench (no
trainer, so each difference is one flag): ``--range pm1`` (featmatch's [-1, 1] data, input noise
0.6 and a tanh G) or ``unit`` (the code's [0, 1], noise 0.3, sigmoid G); ``--eps torch`` (Adam's eps
outside the root) or ``paper`` (1e-8 inside it, as the code's Adam); ``--lr``; ``--fresh_z`` (G's
step on a fresh generated batch). Every ``--eval`` steps it prints the test errors (of 10,000) of D
itself (``err_D``) and of D's moving average at 1e-4 (``err_avg``). The numbers in BENCHMARKS.md,
Table 6b, "what was measured", come from it; one torch thread (``NT=1``), 6,000 steps = 10 epochs:

    NT=1 python benchmarks/semi_mnist_probe.py --range unit --eps paper --lr 1e-3 --steps 6000 --eval 3000

Needs MNIST's IDX files in ``$FEATMATCH_DATA/mnist``.
"""
import argparse, time, math
import numpy as np, torch, torch.nn.functional as F
from featmatch.data.files import read_idx
from featmatch.models.semi_mlp import SemiMLPDiscriminator, SemiMLPGenerator
from featmatch.losses import semi_supervised_discriminator_loss

p = argparse.ArgumentParser()
p.add_argument("--range", default="pm1")
p.add_argument("--eps", default="torch")  # torch | paper
p.add_argument("--steps", type=int, default=600)
p.add_argument("--eval", type=int, default=200)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--fresh_z", type=int, default=1)
p.add_argument("--lr", type=float, default=0.003)
p.add_argument("--ginit", default="default")
a = p.parse_args()
torch.manual_seed(a.seed); torch.set_num_threads(int(__import__("os").environ.get("NT","2")))
root = __import__("os").environ["FEATMATCH_DATA"] + "/mnist/"
x = torch.from_numpy(read_idx(root + "train-images-idx3-ubyte.gz").astype(np.float32) / 255.).reshape(-1, 1, 28, 28)
y = torch.from_numpy(read_idx(root + "train-labels-idx1-ubyte.gz").astype(np.int64))
xt = torch.from_numpy(read_idx(root + "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.).reshape(-1, 1, 28, 28)
yt = torch.from_numpy(read_idx(root + "t10k-labels-idx1-ubyte.gz").astype(np.int64))
if a.range == "pm1":
    x, xt = 2 * x - 1, 2 * xt - 1
    noise, out = 0.6, "tanh"
else:
    noise, out = 0.3, "sigmoid"
rng = np.random.RandomState(a.seed)
perm = rng.permutation(60000)
lab = np.concatenate([perm[y[perm].numpy() == k][:10] for k in range(10)])
xl, yl = x[lab], y[lab]
D = SemiMLPDiscriminator((1, 28, 28), 10, input_noise=noise)
G = SemiMLPGenerator((1, 28, 28), output=out)
D.init_from_data(x[perm[:500]])
if a.ginit == "glorot":
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, torch.nn.Linear):
                w = m.parametrizations.weight.original1 if hasattr(m, "parametrizations") else m.weight
                torch.nn.init.xavier_uniform_(w)

class PaperAdam(torch.optim.Optimizer):
    def __init__(self, params, lr, betas):
        super().__init__(params, dict(lr=lr, betas=betas))
    @torch.no_grad()
    def step(self):
        for g in self.param_groups:
            b1, b2 = g["betas"]
            for p in g["params"]:
                if p.grad is None: continue
                s = self.state[p]
                if not s:
                    s["t"] = 0; s["m"] = torch.zeros_like(p); s["v"] = torch.zeros_like(p)
                s["t"] += 1; t = s["t"]
                s["m"].mul_(b1).add_(p.grad, alpha=1 - b1); s["v"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                mh = s["m"] / (1 - b1 ** t); vh = s["v"] / (1 - b2 ** t)
                p.sub_(g["lr"] * mh / torch.sqrt(vh + 1e-8))

def opt(params):
    params = [q for q in params if q.requires_grad]
    if a.eps == "paper":
        return PaperAdam(params, a.lr, (0.5, 0.999))
    return torch.optim.Adam(params, lr=a.lr, betas=(0.5, 0.999))
od, og = opt(D.parameters()), opt(G.parameters())
avg = [q.detach().clone() for q in D.parameters()]
B = 100
t0 = time.time()
step = 0
def evaluate(params):
    import copy
    Dc = copy.deepcopy(D).eval()
    with torch.no_grad():
        for q, v in zip(Dc.parameters(), params): q.copy_(v)
        return int((Dc(xt).logits.argmax(1) != yt).sum())
n_updates = 0
while step < a.steps:
    up = torch.from_numpy(rng.permutation(60000)); up2 = torch.from_numpy(rng.permutation(60000))
    lp = torch.from_numpy(np.concatenate([rng.permutation(100) for _ in range(600)]))
    for t in range(600):
        if step >= a.steps: break
        xlb, ylb = xl[lp[t*B:(t+1)*B]], yl[lp[t*B:(t+1)*B]]
        xu, xu2 = x[up[t*B:(t+1)*B]], x[up2[t*B:(t+1)*B]]
        z = torch.rand(B, 100)
        fake = G(z)
        out_ = D(torch.cat([xlb, xu, fake.detach()]))
        ll, lu, lf = out_.logits.split([B, B, B])
        loss = semi_supervised_discriminator_loss(lf, lu, ll, ylb)
        od.zero_grad(); loss.backward(); od.step()
        n_updates += 1
        w = 1e-4 / (1 - (1 - 1e-4) ** n_updates)
        for av, q in zip(avg, D.parameters()): av.lerp_(q.detach(), min(w, 1.0))
        if a.fresh_z:
            fake = G(torch.rand(B, 100))
        D.requires_grad_(False)
        hf = D(fake).features["hidden5"]
        with torch.no_grad(): hr = D(xu2).features["hidden5"]
        gl = ((hf.mean(0) - hr.mean(0)) ** 2).mean()
        og.zero_grad(); gl.backward(); og.step()
        D.requires_grad_(True)
        step += 1
        if step % a.eval == 0:
            spread = fake.detach().flatten(1).std(0).mean() / xu.flatten(1).std(0).mean()
            print(f"step {step} {time.time()-t0:.0f}s loss_d {loss.item():.4f} g_fm {gl.item():.4f} spread {spread:.3f} "
                  f"err_D {evaluate([q.detach() for q in D.parameters()])} err_avg {evaluate(avg)}", flush=True)

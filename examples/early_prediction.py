"""Early prediction with adversarial feature matching, in your own training loop (the reference article's system).

A student classifies a sequence from its beginning only. A teacher trained on whole sequences
and then frozen says which features the whole sequence gives; a discriminator over features
tells the teacher's ("real") from the student's ("fake"); the student minimises cross-entropy
plus the paired feature matching of the discriminator's block features (the article's
`G_rof_loss`: the `layer_mse` preset). Data: MNIST-1D (40 steps, 10 classes).

The student sees `featmatch.models.observe(x, r)`: the first round(r * 40) steps, zeros after,
and a mask channel; r is drawn per sample from [0.1, 1.0], so one student serves every ratio.
Takes about 20 seconds of CPU time with the default steps on one thread; prints test accuracy at
r = 0.2, 0.3, 0.5 and 1.0 (and the mean over r = 0.1 ... 1.0) for the student and for the teacher
given the same prefixes.

    python examples/early_prediction.py --steps 2000 --fm-weight 0   # without feature matching
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import featmatch
from featmatch.data import load_dataset
from featmatch.metrics import accuracy_by_fraction
from featmatch.models import SequenceDiscriminator, SequenceEncoder, freeze, observe


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="student steps (the teacher trains as many)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--fm-weight", type=float, default=1.0, help="weight of feature matching (0: off)")
    parser.add_argument("--adv-weight", type=float, default=0.0, help="weight of the adversarial BCE term")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    data = torch.Generator().manual_seed(args.seed)
    train, test = load_dataset("mnist1d"), load_dataset("mnist1d", "test")
    channels, classes = train.x.shape[1], 10

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.randint(0, len(train.x), (args.batch_size,), generator=data)
        return train.x[index], train.y[index]

    # 1. The teacher: a classifier on whole sequences, then frozen (eval mode, no gradients).
    teacher = SequenceEncoder(channels, classes)
    opt_t = torch.optim.Adam(teacher.parameters(), lr=3e-3)
    for _ in range(args.steps):
        x, y = batch()
        loss = F.cross_entropy(teacher(x).logits, y)
        opt_t.zero_grad(set_to_none=True)
        loss.backward()
        opt_t.step()
    freeze(teacher)

    # 2. The student sees prefixes (C + 1 channels: the mask); its features have the teacher's shape,
    #    (N, 64, 10) here, and the discriminator reads those feature sequences (3 blocks: 10 -> 5 -> 2 -> 1).
    student = SequenceEncoder(channels + 1, classes)
    D = SequenceDiscriminator(student.feature_channels, width=32, depth=3)
    opt_s = torch.optim.Adam(student.parameters(), lr=3e-3)
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    fm_loss = featmatch.FeatureMatchingLoss.from_preset("layer_mse")  # paired: same sequence, both sides

    for step in range(args.steps):
        x, y = batch()
        r = torch.empty(len(x)).uniform_(0.1, 1.0, generator=data)  # one ratio per sample
        with torch.no_grad():
            real_feats = teacher(x).features  # (N, 64, 10): the whole sequence
        fake_feats, logits = student(observe(x, r))  # the same shape, from the prefix

        # Discriminator step: BCE, teacher features real, student features fake.
        d_loss = featmatch.discriminator_loss(fake=D(fake_feats.detach()), real=D(real_feats))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        # Student step, D frozen: classify, and match D's block features of the teacher's.
        D.requires_grad_(False)
        fake_out = D(fake_feats)
        with torch.no_grad():
            real_out = D(real_feats)
        ce = F.cross_entropy(logits, y)
        fm = fm_loss(fake_out, real_out)
        s_loss = ce + args.fm_weight * fm
        if args.adv_weight:
            s_loss = s_loss + args.adv_weight * featmatch.generator_loss(fake_out)
        opt_s.zero_grad(set_to_none=True)
        s_loss.backward()
        opt_s.step()
        D.requires_grad_(True)

        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  loss/d {d_loss.item():.3f}  loss/ce {ce.item():.3f}  loss/g_fm {fm.item():.4f}")

    # Test accuracy at r = 0.1, ..., 1.0 (and their mean); the teacher sees the same prefixes, zero-filled.
    shown = ("accuracy@0.2", "accuracy@0.3", "accuracy@0.5", "accuracy@1.0", "accuracy_auc")
    for name, model, mode in (("student", student, "mask"), ("teacher", teacher, "zero")):
        acc = accuracy_by_fraction(model, test.x, test.y, mode=mode)
        print(f"{name}  " + "  ".join(f"{key} {float(acc[key]):.3f}" for key in shown))


if __name__ == "__main__":
    main()

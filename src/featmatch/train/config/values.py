"""The allowed values of the configuration's choice fields, and the users' spelling of renamed keys.

Below the schema, the flags table and the checks, which all read them (:mod:`.schema` re-exports them).

Example:
    >>> OBJECTIVES
    ('adv', 'fm', 'adv+fm')
"""

from __future__ import annotations

from featmatch.train.schedule import LR_SCHEDULES

__all__ = ["D_LOSSES", "KEY_ALIASES", "LR_SCHEDULES", "NONFINITE_POLICIES", "OBJECTIVES", "PRECISIONS"]

OBJECTIVES = ("adv", "fm", "adv+fm")
D_LOSSES = ("bce", "hinge", "lsgan", "wgan")
PRECISIONS = ("fp32", "bf16", "fp16")
NONFINITE_POLICIES = ("stop", "rollback", "continue")

#: Users' spelling of a key -> the dataclass field it sets, where the two differ. Files and
#: ``--print-config`` use the users' spelling; the field keeps its name until the trainer reads
#: the new one (then the alias goes and the field is renamed).
KEY_ALIASES: dict[str, str] = {"optim.ema_decay": "optim.ema"}

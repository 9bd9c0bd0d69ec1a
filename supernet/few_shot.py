"""A few-shot supernet: K sub-supernets, each owning one region of a partitioned space.

Each architecture is routed to the sub-supernet of its region (:mod:`supernet.partition`), so
``forward(x, arch)`` and ``extract(arch)`` mean what they mean for one :class:`Supernet`, and
everything that scores or extracts subnets (BN recalibration, the search, rank fidelity) takes
a few-shot supernet unchanged.

Example:
    >>> few = FewShotSupernet(partition, [supernet_a, supernet_b])  # doctest: +SKIP
    >>> few.extract(arch)  # the static net of arch, from the sub-supernet of its region
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from lamoo_nas.supernet.errors import ArchSpaceMismatchError
from lamoo_nas.supernet.model import Supernet
from lamoo_nas.supernet.partition import Partition
from lamoo_nas.supernet.space import ArchConfig
from lamoo_nas.supernet.static import StaticNet


class FewShotSupernet(nn.Module):
    """``members[k]`` serves the architectures of region ``k`` of ``partition``."""

    def __init__(self, partition: Partition, members: Sequence[Supernet]) -> None:
        super().__init__()
        if len(members) != partition.num_regions:
            raise ArchSpaceMismatchError(
                f"{len(members)} sub-supernets for a partition of {partition.num_regions} regions"
            )
        space = members[0].space
        for k, member in enumerate(members):
            if member.space.fingerprint != space.fingerprint:
                raise ArchSpaceMismatchError(
                    f"sub-supernet {k} is of space {member.space.name!r} "
                    f"({member.space.fingerprint}), sub-supernet 0 of {space.name!r} "
                    f"({space.fingerprint})"
                )
            if member.num_classes != members[0].num_classes:
                raise ArchSpaceMismatchError(
                    f"sub-supernet {k} has {member.num_classes} classes, sub-supernet 0 "
                    f"{members[0].num_classes}"
                )
        partition.check_space(space)
        self.space = space
        self.num_classes = members[0].num_classes
        self.partition = partition
        self.members = nn.ModuleList(members)

    def member_for(self, arch: ArchConfig) -> Supernet:
        """The sub-supernet of ``arch``'s region."""
        member = self.members[self.partition.region_of(self.space, arch)]
        assert isinstance(member, Supernet)
        return member

    def forward(self, x: Tensor, arch: ArchConfig) -> Tensor:
        return self.member_for(arch)(x, arch)

    def extract(self, arch: ArchConfig) -> StaticNet:
        return self.member_for(arch).extract(arch)


AnySupernet = Supernet | FewShotSupernet
"""What scores and extracts subnets: one supernet, or a few-shot one."""

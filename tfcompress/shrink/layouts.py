"""Which channels a tensor's last axis holds, and where they come from.

Structured pruning removes a channel everywhere it goes at once: from the
layer that makes it (a filter, a unit), from every layer that reads it (an
input row of a kernel, a batch-norm entry), through concatenations, through
depthwise convolutions that repeat it, through a Flatten that spreads it over
every spatial position. A `Layout` says, for each position of a tensor's
last axis, which channel of which `Space` it carries; a space is a set of
channels made together (a layer's filters, a model input, a layer the graph
cannot see through).

Written here: Keras has no notion of channel provenance, and Torch-Pruning's
dependency graph (Fang et al., DepGraph, CVPR 2023), which this follows, is
PyTorch only.
"""

import dataclasses

import numpy as np


@dataclasses.dataclass(eq=False)
class Space:
    """`size` channels made together.

    Attributes:
      size: number of channels.
      owner: name of the layer whose weights make them (Dense units, Conv
        filters), or None (a model input, a layer's output that cannot shrink).
      reason: why the space cannot shrink, when owner is None.
    """
    size: int
    owner: str | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Segment:
    """`space`'s channels in order, each repeated `repeat` times in a row
    (a depthwise convolution with depth_multiplier `repeat`)."""
    space: Space
    repeat: int = 1

    @property
    def width(self):
        return self.space.size * self.repeat


@dataclasses.dataclass(frozen=True)
class Layout:
    """A tensor's last axis: `segments` one after the other (a Concatenate),
    the whole repeated `tiles` times (a Flatten of an H x W x C map: H*W tiles)."""
    segments: tuple
    tiles: int = 1

    @classmethod
    def of(cls, space):
        return cls((Segment(space),))

    @property
    def width(self):
        return self.tiles * sum(segment.width for segment in self.segments)

    def spaces(self):
        return [segment.space for segment in self.segments]

    def kept_positions(self, kept, tiles=None):
        """Positions along this axis that survive, given {space: kept channel indices}.

        A space missing from `kept` keeps every channel; `tiles`: the indices
        of the tiles that stay (a crop before a Flatten), None for all.
        """
        positions = np.sort(np.concatenate([
            self.positions_of(space)[kept.get(space, slice(None))].ravel()
            for space in dict.fromkeys(self.spaces())]))  # each space once, in order
        if tiles is None:
            return positions
        return positions[np.isin(positions // (self.width // self.tiles), tiles)]

    def positions_of(self, space):
        """[channels of `space`, positions]: where each of its channels sits here."""
        rows, offset = [], 0
        for segment in self.segments:
            if segment.space is space:
                starts = offset + np.arange(space.size) * segment.repeat
                rows.append(starts[:, None] + np.arange(segment.repeat)[None, :])
            offset += segment.width
        if not rows:
            return np.zeros((space.size, 0), np.int64)
        tile = np.concatenate(rows, axis=1)
        return np.concatenate([tile + t * offset for t in range(self.tiles)], axis=1)

    def repeated(self, factor):
        """Each position repeated `factor` times in a row (depthwise multiplier)."""
        if self.tiles != 1:
            return None
        return Layout(tuple(Segment(s.space, s.repeat * factor) for s in self.segments))

    def flattened(self, positions):
        """This layout tiled over `positions` spatial positions (a Flatten)."""
        if self.tiles != 1:
            return None
        return Layout(self.segments, positions)

    def concatenated(self, other):
        if self.tiles != 1 or other.tiles != 1:
            return None
        return Layout(self.segments + other.segments)

    def same_structure(self, other):
        """Whether position i of both carries a channel of the same shape of space."""
        return (self.tiles == other.tiles and len(self.segments) == len(other.segments)
                and all(a.space.size == b.space.size and a.repeat == b.repeat
                        for a, b in zip(self.segments, other.segments)))

"""The sizes an inspection accepts before it reads anything, in one place.

Each limit is far above what a Keras model needs and far below what would
hurt the machine; a file over one is refused (a `resource` finding), never
read in part.
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 2**20
GiB = 2**30


@dataclass(frozen=True)
class Limits:
    config_bytes: int = 64 * MiB  # one Keras config (h5 attribute, config.json, metadata)
    attribute_bytes: int = 64 * MiB  # any other HDF5 attribute
    proto_bytes: int = 1 * GiB  # saved_model.pb, keras_metadata.pb (protobuf caps at 2 GiB)
    hdf5_objects: int = 200_000  # groups, datasets and links walked in one file
    members: int = 100_000  # files in a .keras archive or a SavedModel folder
    # What a file may expand to when read: datasets' declared sizes, archive
    # members' uncompressed sizes. A Keras file stores its bytes as they are,
    # so more than `expansion` times the bytes on disk (plus `slack`) is a bomb.
    expansion: int = 4
    slack: int = 64 * MiB
    total_bytes: int = 16 * GiB  # whatever the ratio: what a probe may ever be asked to hold

    def allowed_expansion(self, stored: int) -> int:
        return min(self.total_bytes, stored * self.expansion + self.slack)


DEFAULT = Limits()

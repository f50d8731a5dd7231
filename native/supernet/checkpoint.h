// Checkpoint files of the supernet: every tensor (parameters and BN running statistics), the
// SGD momentum buffers, and an opaque caller string (the TypeScript training state as JSON:
// pool, schedules, RNG states, data order), in one versioned binary file with a checksum.
//
// Layout (little-endian):
//   "GNASCKPT"  u32 version  u32 tensor count
//   per tensor: u16 name length, name, u8 kind, u8 rank, i32 dims[rank]
//   u64 extra length, extra bytes
//   u64 float count, values[float count], velocity[float count]
//   u64 FNV-1a 64 checksum of every byte before it
//
// Writes are atomic (temp file, fsync, rename, fsync of the folder): a crash leaves either the
// old file or the new one. A truncated, corrupt or foreign file is refused with a clear error
// before anything is returned, so the supernet loading it is left unchanged.
// These functions see one tensor store; the public supernet (parallel/supernet.h) saves replica
// 0's and writes what it reads into every replica.
#pragma once
#include <string>
#include <vector>

#include "supernet/tensor_store.h"

namespace gnas {

// Throws NonFiniteError when the store holds inf or NaN (nothing is written then), and
// std::runtime_error when the file cannot be written.
void save_checkpoint(const TensorStore& store, const std::string& path, const std::string& extra);

struct CheckpointContents {
  std::string extra;
  std::vector<float> values, velocities;  // store.total() floats each, in the store's layout
};
// Reads `path` and checks it against the store's layout (tensor names, kinds, shapes, arena
// size) and for non-finite values. Throws std::runtime_error naming what is wrong with the file.
CheckpointContents read_checkpoint(const TensorStore& store, const std::string& path);

}  // namespace gnas

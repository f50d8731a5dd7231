// NCCL, loaded at run time. The addon must build and load on machines without NCCL (CI, laptops),
// so nothing links against it: the few entry points data parallelism needs are looked up with
// dlopen/dlsym the first time --gpus N > 1 asks for them. Types and enum values are NCCL's
// documented, stable ABI (nccl.h since 2.x); only what we call is declared.
//
// Where the library is looked for, in order: $GNAS_NCCL_LIBRARY, the path CMake found at build
// time (NCCL_ROOT, the system, PyTorch's nvidia-nccl wheel), then libnccl.so.2 / libnccl.so on the
// loader's search path (LD_LIBRARY_PATH, ldconfig).
#pragma once
#include <cstddef>
#include <string>

namespace gnas {
namespace nccl {

using Comm = struct ncclComm*;
enum Result : int { Success = 0 };
enum DataType : int { Float32 = 7 };
enum RedOp : int { Sum = 0, Avg = 4 };  // Avg: NCCL >= 2.10
struct UniqueId {
  char internal[128];
};

struct Api {
  Result (*GetVersion)(int* version) = nullptr;
  const char* (*GetErrorString)(Result r) = nullptr;
  Result (*GetUniqueId)(UniqueId* id) = nullptr;
  Result (*CommInitAll)(Comm* comms, int ndev, const int* devlist) = nullptr;
  Result (*CommInitRank)(Comm* comm, int nranks, UniqueId id, int rank) = nullptr;
  Result (*CommDestroy)(Comm comm) = nullptr;
  Result (*AllReduce)(const void* send, void* recv, size_t count, DataType type, RedOp op, Comm comm,
                      void* stream) = nullptr;
  Result (*Broadcast)(const void* send, void* recv, size_t count, DataType type, int root, Comm comm,
                      void* stream) = nullptr;
  Result (*GroupStart)() = nullptr;
  Result (*GroupEnd)() = nullptr;
  int version = 0;          // e.g. 22105 for 2.21.5
  std::string library;      // the file that was loaded
};

// The loaded API, or throws std::runtime_error explaining where NCCL was looked for and why
// it could not be used (not found, missing symbols, version < 2.10).
const Api& api();
// Non-throwing: "" when NCCL can be loaded, else the reason.
std::string unavailable_reason();
// Throws gnas::DeviceError "ncclXxx: <NCCL's message> (<where>)" when r != Success.
void check(Result r, const char* where);

}  // namespace nccl
}  // namespace gnas

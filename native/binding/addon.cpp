// Module entry of greedynas.node: registers the NativeSupernet class and build facts.
#include <napi.h>

#include <thread>

#include "core/backends.h"

namespace gnas::binding {
Napi::Function define_supernet_class(Napi::Env env);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSupernet", gnas::binding::define_supernet_class(env));
  // Which backends this build holds (CUDA joins the list when it is compiled in).
  auto names = gnas::backend_names();
  Napi::Array backends = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) backends.Set(uint32_t(i), names[i]);
  exports.Set("backends", backends);
  exports.Set("hardwareThreads", Napi::Number::New(env, double(std::thread::hardware_concurrency())));
  return exports;
}

NODE_API_MODULE(greedynas, Init)

// Module entry of greedynas.node: registers the NativeSupernet class, the image functions of the
// data loaders and build facts.
#include <napi.h>

#include <thread>

#include "backends/registry.h"

namespace gnas::binding {
Napi::Function define_supernet_class(Napi::Env env);
void define_image_functions(Napi::Env env, Napi::Object exports);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeSupernet", gnas::binding::define_supernet_class(env));
  gnas::binding::define_image_functions(env, exports);
  // Which backends this build holds (CUDA joins the list when it is compiled in).
  auto names = gnas::backend_names();
  Napi::Array backends = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) backends.Set(uint32_t(i), names[i]);
  exports.Set("backends", backends);
  // probeBackends(): what each backend can do on this machine (CUDA: devices found or why not).
  exports.Set("probeBackends", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    Napi::Env e = info.Env();
    auto infos = gnas::probe_backends();
    Napi::Array out = Napi::Array::New(e, infos.size());
    for (size_t i = 0; i < infos.size(); i++) {
      Napi::Object o = Napi::Object::New(e);
      o.Set("name", infos[i].name);
      o.Set("built", infos[i].built);
      o.Set("usable", infos[i].usable);
      o.Set("devices", infos[i].devices);
      o.Set("detail", infos[i].detail);
      out.Set(uint32_t(i), o);
    }
    return out;
  }));
  exports.Set("hardwareThreads", Napi::Number::New(env, double(std::thread::hardware_concurrency())));
  return exports;
}

NODE_API_MODULE(greedynas, Init)

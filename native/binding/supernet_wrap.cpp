// The JS class `NativeSupernet`: a thin ObjectWrap over gnas::Supernet. Arguments are checked
// and COPIED here on the main thread; the work runs in an AsyncWorker on libuv's thread pool and
// never touches JS values; errors come back as rejected Promises carrying a `code`.
// The typed surface is declared in src/native/addon.ts; argument checking with friendly messages
// happens first in src/native/engine.ts.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>

#include "binding/convert.h"
#include "parallel/supernet.h"
#include "supernet/weight_health.h"

namespace gnas::binding {

namespace {

// Runs `work` off the event loop under the supernet's mutex, then resolves with `result`.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, Napi::Object owner, std::shared_ptr<Supernet> net, std::shared_ptr<int> in_flight,
                std::shared_ptr<int64_t> reported, std::function<void()> work,
                std::function<Napi::Value(Napi::Env)> result)
      : Napi::AsyncWorker(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        net_(std::move(net)),
        in_flight_(std::move(in_flight)),
        reported_(std::move(reported)),
        work_(std::move(work)),
        result_(std::move(result)) {
    owner_ = Napi::Persistent(owner);  // the JS wrapper must outlive the call, GC or not
    ++*in_flight_;                      // main thread only: queued and finished on the event loop
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      std::lock_guard<std::mutex> lock(net_->mutex());
      try {
        work_();
      } catch (...) {
        bytes_after_ = net_->memory_bytes();
        throw;
      }
      bytes_after_ = net_->memory_bytes();
    } catch (const NonFiniteError& e) {
      code_ = "GNAS_NONFINITE";
      SetError(e.what());
    } catch (const std::invalid_argument& e) {
      code_ = "GNAS_INVALID_ARGUMENT";
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "GNAS_OUT_OF_MEMORY";
      SetError("out of memory (the supernet gave back its scratch memory and dropped the call's pending gradients; "
               "a smaller batch will run)");
      recover();
    } catch (const DeviceError& e) {
      code_ = "GNAS_DEVICE";
      SetError(e.what());
      recover();
    } catch (const std::exception& e) {
      code_ = "GNAS_NATIVE";
      SetError(e.what());
    }
  }
  // A call that failed part-way may have grown buffers it never used and half-accumulated
  // gradients: free and drop them, so the next call neither aborts for lack of memory nor applies
  // stale state.
  void recover() {
    try {
      std::lock_guard<std::mutex> lock(net_->mutex());
      net_->recover_after_failure();
      bytes_after_ = net_->memory_bytes();
    } catch (...) {
      // recovery is best effort: the call's own error is what the caller sees
    }
  }

  // Tells V8 how much native memory the supernet holds after this call (main thread only).
  void report_memory(Napi::Env env) {
    if (bytes_after_ < 0 || *reported_ < 0) return;  // < 0: disposed meanwhile, nothing to report
    Napi::MemoryManagement::AdjustExternalMemory(env, bytes_after_ - *reported_);
    *reported_ = bytes_after_;
  }

  void OnOK() override {
    --*in_flight_;
    report_memory(Env());
    Napi::Env env = Env();
    try {
      deferred_.Resolve(result_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override {
    --*in_flight_;
    report_memory(Env());
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  std::shared_ptr<Supernet> net_;
  std::shared_ptr<int> in_flight_;
  std::shared_ptr<int64_t> reported_;
  int64_t bytes_after_ = -1;  // memory_bytes() when the work ended
  std::function<void()> work_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::string code_ = "GNAS_NATIVE";
};

}  // namespace

class SupernetWrap : public Napi::ObjectWrap<SupernetWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeSupernet",
                       {
                           InstanceMethod("tensorInfo", &SupernetWrap::Live<&SupernetWrap::TensorInfo>),
                           InstanceMethod("getTensor", &SupernetWrap::Live<&SupernetWrap::GetTensor>),
                           InstanceMethod("setTensor", &SupernetWrap::Live<&SupernetWrap::SetTensor>),
                           InstanceMethod("normalize", &SupernetWrap::Live<&SupernetWrap::Normalize>),
                           InstanceMethod("pathParameterCount", &SupernetWrap::Live<&SupernetWrap::PathParameterCount>),
                           InstanceMethod("backendName", &SupernetWrap::Live<&SupernetWrap::BackendName>),
                           InstanceMethod("replicas", &SupernetWrap::Live<&SupernetWrap::Replicas>),
                           InstanceMethod("memoryBytes", &SupernetWrap::Live<&SupernetWrap::MemoryBytes>),
                           InstanceMethod("scoresInBf16", &SupernetWrap::Live<&SupernetWrap::ScoresInBf16>),
                           InstanceMethod("replicaDivergence", &SupernetWrap::Live<&SupernetWrap::ReplicaDivergence>),
                           InstanceMethod("trainStep", &SupernetWrap::Live<&SupernetWrap::TrainStep>),
                           InstanceMethod("accumulateGradients", &SupernetWrap::Live<&SupernetWrap::AccumulateGradients>),
                           InstanceMethod("applyUpdate", &SupernetWrap::Live<&SupernetWrap::ApplyUpdate>),
                           InstanceMethod("evaluate", &SupernetWrap::Live<&SupernetWrap::Evaluate>),
                           InstanceMethod("predict", &SupernetWrap::Live<&SupernetWrap::Predict>),
                           InstanceMethod("calibrateBn", &SupernetWrap::Live<&SupernetWrap::CalibrateBn>),
                           InstanceMethod("save", &SupernetWrap::Live<&SupernetWrap::Save>),
                           InstanceMethod("load", &SupernetWrap::Live<&SupernetWrap::Load>),
                           InstanceMethod("dispose", &SupernetWrap::Dispose),
                       });
  }

  // new NativeSupernet(resolvedSpace, options)
  SupernetWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SupernetWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsObject())
      throw_error(env, "GNAS_INVALID_ARGUMENT", "NativeSupernet(space, options) needs two objects", true);
    SpaceDesc space = space_from_js(info[0].As<Napi::Object>());
    SupernetOptions opt = options_from_js(info[1].As<Napi::Object>());
    guarded(env, [&] { net_ = std::make_shared<Supernet>(space, opt); });
    // V8 sees only the small wrapper. Told what the native side holds (updated after every call),
    // its garbage collector runs soon enough to free dropped supernets (their finalizer frees the
    // native memory) instead of letting dozens pile up unseen.
    *reported_ = net_->memory_bytes();
    Napi::MemoryManagement::AdjustExternalMemory(env, *reported_);
  }

  ~SupernetWrap() override { unreport(Env()); }

 private:
  std::shared_ptr<Supernet> net_;
  // Bytes announced to V8 as external memory (-1 once disposed); shared with the call workers.
  std::shared_ptr<int64_t> reported_ = std::make_shared<int64_t>(0);

  void unreport(Napi::Env env) {
    if (*reported_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, -*reported_);
    *reported_ = -1;
  }
  // Async calls queued and not yet settled (touched on the main thread only).
  std::shared_ptr<int> in_flight_ = std::make_shared<int>(0);

  // Runs a synchronous native call on the main thread, turning C++ exceptions into JS Errors with
  // a code (the same codes the async calls reject with).
  template <typename F>
  static void guarded(Napi::Env env, F&& f) {
    try {
      f();
    } catch (const Napi::Error&) {
      throw;
    } catch (const NonFiniteError& e) {
      throw_error(env, "GNAS_NONFINITE", e.what());
    } catch (const std::invalid_argument& e) {
      throw_error(env, "GNAS_INVALID_ARGUMENT", e.what());
    } catch (const std::bad_alloc&) {
      throw_error(env, "GNAS_OUT_OF_MEMORY", "out of memory");
    } catch (const DeviceError& e) {
      throw_error(env, "GNAS_DEVICE", e.what());
    } catch (const std::exception& e) {
      throw_error(env, "GNAS_NATIVE", e.what());
    }
  }

  // Every method but dispose() goes through here: after dispose() the native supernet is gone and
  // a call is a JS Error with code GNAS_DISPOSED, never a null dereference.
  template <Napi::Value (SupernetWrap::*Method)(const Napi::CallbackInfo&)>
  Napi::Value Live(const Napi::CallbackInfo& info) {
    if (!net_) throw_error(info.Env(), "GNAS_DISPOSED", "the supernet was disposed (dispose() was called): create a new one");
    return (this->*Method)(info);
  }

  // dispose(): frees the native supernet (weights, momentum, workspace) now instead of whenever the
  // garbage collector gets to the wrapper, which knows nothing of the native memory behind it.
  // Refused while calls are in flight (their workers hold the supernet); a second call is a no-op.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (*in_flight_ > 0)
      throw_error(info.Env(), "GNAS_BUSY", "dispose(): the supernet is busy with an unfinished call: await it first");
    net_.reset();
    unreport(info.Env());
    return info.Env().Undefined();
  }

  // Synchronous accessors must not race an in-flight worker: they refuse while any is queued.
  std::unique_lock<std::mutex> lock_or_throw(Napi::Env env) {
    if (*in_flight_ > 0)
      throw_error(env, "GNAS_BUSY", "the supernet is busy with an unfinished call: await it first");
    return std::unique_lock<std::mutex>(net_->mutex());
  }

  // An arch from JS, checked against the space (length, choice ranges); errors name `what`.
  std::vector<int> checked_arch(Napi::Env env, const Napi::Value& v, const std::string& what) {
    std::vector<int> arch = arch_from_js(env, v, what);
    try {
      net_->check_arch(arch);
    } catch (const std::invalid_argument& e) {
      throw_error(env, "GNAS_INVALID_ARGUMENT", what + ": " + e.what());
    }
    return arch;
  }

  int tensor_id(Napi::Env env, const Napi::Value& v) {
    if (!v.IsString()) throw_error(env, "GNAS_INVALID_ARGUMENT", "tensor name must be a string", true);
    std::string name = v.As<Napi::String>().Utf8Value();
    int id = net_->store().find(name);
    if (id < 0) throw_error(env, "GNAS_INVALID_ARGUMENT", "no tensor named '" + name + "'");
    return id;
  }

  Napi::Value TensorInfo(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const auto& entries = net_->store().entries();
    Napi::Array out = Napi::Array::New(env, entries.size());
    for (size_t i = 0; i < entries.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", entries[i].name);
      Napi::Array shape = Napi::Array::New(env, entries[i].shape.size());
      for (size_t d = 0; d < entries[i].shape.size(); d++) shape.Set(uint32_t(d), entries[i].shape[d]);
      o.Set("shape", shape);
      o.Set("kind", entries[i].kind == TensorKind::Param ? "param" : "buffer");
      out.Set(uint32_t(i), o);
    }
    return out;
  }

  Napi::Value GetTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int id = tensor_id(env, info[0]);
    auto lock = lock_or_throw(env);
    const TensorEntry& e = net_->store().entry(id);
    Napi::Float32Array out = Napi::Float32Array::New(env, size_t(e.size));
    guarded(env, [&] { net_->store().read(id, out.Data()); });
    return out;
  }

  Napi::Value SetTensor(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    int id = tensor_id(env, info[0]);
    if (info.Length() < 2 || !info[1].IsTypedArray() ||
        info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_error(env, "GNAS_INVALID_ARGUMENT", "setTensor(name, data) needs a Float32Array", true);
    Napi::Float32Array a = info[1].As<Napi::Float32Array>();
    const TensorEntry& e = net_->store().entry(id);
    if (int64_t(a.ElementLength()) != e.size)
      throw_error(env, "GNAS_INVALID_ARGUMENT",
                  "tensor '" + e.name + "' has " + std::to_string(e.size) + " elements, got " +
                      std::to_string(a.ElementLength()));
    for (size_t i = 0; i < a.ElementLength(); i++)
      if (!std::isfinite(a.Data()[i])) throw_error(env, "GNAS_INVALID_ARGUMENT", "tensor data must be finite");
    auto lock = lock_or_throw(env);
    guarded(env, [&] { net_->write_tensor(id, a.Data()); });
    return env.Undefined();
  }

  Napi::Value Normalize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    OwnedImages im = images_from_js(env, info[0], net_->space(), -1, "images");
    auto lock = lock_or_throw(env);
    const SpaceDesc& sp = net_->space();
    Napi::Float32Array out = Napi::Float32Array::New(env, size_t(im.n) * sp.height * sp.width * sp.channels);
    guarded(env, [&] { net_->normalize(im.batch(nullptr), out.Data()); });
    return out;
  }

  Napi::Value PathParameterCount(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<int> arch = arch_from_js(env, info[0], "arch");
    try {
      return Napi::Number::New(env, double(net_->path_parameter_count(arch)));
    } catch (const std::invalid_argument& e) {
      throw_error(env, "GNAS_INVALID_ARGUMENT", e.what());
    }
  }

  Napi::Value BackendName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), net_->backend().name());
  }

  Napi::Value Replicas(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), net_->replicas()); }
  // What the supernet held when its last call finished (the figure V8 was told): read on the main
  // thread without waiting for a call in flight.
  Napi::Value MemoryBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(*reported_)); }
  Napi::Value ScoresInBf16(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), net_->scores_in_bf16());
  }

  // Largest difference between replica 0's tensors and any other replica's (0 = bit-identical).
  Napi::Value ReplicaDivergence(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto lock = lock_or_throw(env);
    double d = 0;
    guarded(env, [&] { d = net_->replica_divergence(); });
    return Napi::Number::New(env, d);
  }

  // Shared by trainStep / accumulateGradients: (arch, images, labels[, lr])
  struct TrainArgs {
    std::vector<int> arch;
    std::vector<int32_t> labels;
    OwnedImages images;
  };
  std::shared_ptr<TrainArgs> train_args(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto a = std::make_shared<TrainArgs>();
    a->arch = checked_arch(env, info[0], "arch");
    a->labels = labels_from_js(env, info[2], net_->space().classes, "labels");
    a->images = images_from_js(env, info[1], net_->space(), int(a->labels.size()), "images");
    return a;
  }

  static Napi::Value step_result(Napi::Env env, const StepResult& r) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("loss", r.loss);
    o.Set("correct", double(r.correct));
    return o;
  }

  Napi::Value run(Napi::Env env, std::function<void()> work, std::function<Napi::Value(Napi::Env)> result) {
    auto* w = new PromiseWorker(env, Value(), net_, in_flight_, reported_, std::move(work), std::move(result));
    Napi::Promise p = w->promise();
    w->Queue();
    return p;
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto a = train_args(info);
    if (!info[3].IsNumber()) throw_error(env, "GNAS_INVALID_ARGUMENT", "lr must be a number", true);
    double lr = info[3].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(lr) || lr < 0) throw_error(env, "GNAS_INVALID_ARGUMENT", "lr must be a finite number >= 0", true);
    auto r = std::make_shared<StepResult>();
    auto net = net_;
    return run(
        env, [=] { *r = net->train_step(a->arch, a->images.batch(a->labels.data()), float(lr)); },
        [=](Napi::Env e) { return step_result(e, *r); });
  }

  Napi::Value AccumulateGradients(const Napi::CallbackInfo& info) {
    auto a = train_args(info);
    auto r = std::make_shared<StepResult>();
    auto net = net_;
    return run(
        info.Env(), [=] { *r = net->accumulate_gradients(a->arch, a->images.batch(a->labels.data())); },
        [=](Napi::Env e) { return step_result(e, *r); });
  }

  Napi::Value ApplyUpdate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber()) throw_error(env, "GNAS_INVALID_ARGUMENT", "lr must be a number", true);
    double lr = info[0].As<Napi::Number>().DoubleValue();
    if (!std::isfinite(lr) || lr < 0) throw_error(env, "GNAS_INVALID_ARGUMENT", "lr must be a finite number >= 0", true);
    auto net = net_;
    return run(env, [=] { net->apply_update(float(lr)); }, [](Napi::Env e) { return e.Undefined(); });
  }

  // evaluate(archs: (number[] | Int32Array)[], images, labels, bn) -> [{loss, correct, count}]
  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsArray()) throw_error(env, "GNAS_INVALID_ARGUMENT", "archs must be an array of archs", true);
    Napi::Array list = info[0].As<Napi::Array>();
    auto archs = std::make_shared<std::vector<std::vector<int>>>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      archs->push_back(checked_arch(env, list.Get(i), "archs[" + std::to_string(i) + "]"));
    }
    if (archs->empty()) throw_error(env, "GNAS_INVALID_ARGUMENT", "archs is empty");
    auto labels = std::make_shared<std::vector<int32_t>>(labels_from_js(env, info[2], net_->space().classes, "labels"));
    auto images = std::make_shared<OwnedImages>(images_from_js(env, info[1], net_->space(), int(labels->size()), "images"));
    BnMode mode = bn_mode_from_js(env, info[3]);
    auto scores = std::make_shared<std::vector<PathScore>>();
    auto net = net_;
    int n = images->n;
    return run(
        env, [=] { *scores = net->evaluate(*archs, images->batch(labels->data()), mode); },
        [=](Napi::Env e) {
          Napi::Array out = Napi::Array::New(e, scores->size());
          for (size_t i = 0; i < scores->size(); i++) {
            Napi::Object o = Napi::Object::New(e);
            o.Set("loss", (*scores)[i].loss);
            o.Set("correct", double((*scores)[i].correct));
            o.Set("count", n);
            out.Set(uint32_t(i), o);
          }
          return out;
        });
  }

  // predict(arch, images, bn) -> Float32Array logits [N][classes]
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto arch = std::make_shared<std::vector<int>>(checked_arch(env, info[0], "arch"));
    auto images = std::make_shared<OwnedImages>(images_from_js(env, info[1], net_->space(), -1, "images"));
    BnMode mode = bn_mode_from_js(env, info[2]);
    auto logits = std::make_shared<std::vector<float>>(size_t(images->n) * net_->space().classes);
    auto net = net_;
    return run(
        env, [=] { net->predict(*arch, images->batch(nullptr), mode, logits->data()); },
        [=](Napi::Env e) {
          Napi::Float32Array out = Napi::Float32Array::New(e, logits->size());
          std::memcpy(out.Data(), logits->data(), logits->size() * sizeof(float));
          return out;
        });
  }

  // calibrateBn(arch, batches: (Uint8Array | Float32Array)[])
  Napi::Value CalibrateBn(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto arch = std::make_shared<std::vector<int>>(checked_arch(env, info[0], "arch"));
    if (!info[1].IsArray()) throw_error(env, "GNAS_INVALID_ARGUMENT", "batches must be an array of image arrays", true);
    Napi::Array list = info[1].As<Napi::Array>();
    if (list.Length() == 0) throw_error(env, "GNAS_INVALID_ARGUMENT", "batches is empty");
    auto batches = std::make_shared<std::vector<OwnedImages>>();
    for (uint32_t i = 0; i < list.Length(); i++)
      batches->push_back(images_from_js(env, list.Get(i), net_->space(), -1, "batches[" + std::to_string(i) + "]"));
    auto net = net_;
    return run(
        env,
        [=] {
          std::vector<Batch> bs;
          for (const OwnedImages& im : *batches) bs.push_back(im.batch(nullptr));
          net->calibrate_bn(*arch, bs);
        },
        [](Napi::Env e) { return e.Undefined(); });
  }

  // save(path, extra: string)
  Napi::Value Save(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw_error(env, "GNAS_INVALID_ARGUMENT", "path must be a string", true);
    std::string path = info[0].As<Napi::String>().Utf8Value();
    std::string extra = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
    auto net = net_;
    return run(env, [=] { net->save_checkpoint(path, extra); }, [](Napi::Env e) { return e.Undefined(); });
  }

  // load(path) -> extra string
  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) throw_error(env, "GNAS_INVALID_ARGUMENT", "path must be a string", true);
    std::string path = info[0].As<Napi::String>().Utf8Value();
    auto extra = std::make_shared<std::string>();
    auto net = net_;
    return run(env, [=] { *extra = net->load_checkpoint(path); }, [=](Napi::Env e) { return Napi::String::New(e, *extra); });
  }
};

Napi::Function define_supernet_class(Napi::Env env) { return SupernetWrap::Define(env); }

}  // namespace gnas::binding

// decodeImage / prepareImage / imageDecoder(Absence): the image functions of native/image/ for the data
// loaders (src/data/image-folder.ts). Arguments are checked and the input bytes COPIED here on the
// calling thread; with `async` true the work runs in an AsyncWorker on libuv's pool and the call
// returns a Promise (the in-memory loader on the main thread), otherwise it runs inline (the
// decode worker threads, which have nothing else to do). Errors carry `code`: GNAS_IMAGE_DECODE
// (a corrupt file; the message says what libjpeg found) or GNAS_INVALID_ARGUMENT.
#include <napi.h>

#include <cstring>
#include <functional>
#include <stdexcept>

#include "binding/convert.h"
#include "image/image.h"

namespace gnas::binding {

namespace {

using image::Pixels;

struct ImageJob {
  std::vector<uint8_t> bytes;  // decodeImage: the file
  Pixels pixels;               // prepareImage: the decoded image
  image::Target target;
  bool decode = false;
  // results
  bool handled = true;
  Pixels out;

  // Throws std::invalid_argument (bad shapes) or std::runtime_error (a corrupt file).
  void run() {
    if (decode) {
      std::string why;
      Pixels rgb;
      handled = image::decode_jpeg_rgb(bytes.data(), bytes.size(), rgb, why);
      if (handled) out = image::prepare(rgb, target);
    } else {
      out = image::prepare(pixels, target);
    }
  }

  Napi::Value result(Napi::Env env) const {
    if (!handled) return env.Null();
    Napi::Uint8Array data = Napi::Uint8Array::New(env, out.data.size());
    if (!out.data.empty()) std::memcpy(data.Data(), out.data.data(), out.data.size());
    Napi::Object o = Napi::Object::New(env);
    o.Set("data", data);
    o.Set("width", out.width);
    o.Set("height", out.height);
    o.Set("channels", out.channels);
    return o;
  }
};

const char* code_of(const std::exception& e) {
  return dynamic_cast<const std::invalid_argument*>(&e) != nullptr ? "GNAS_INVALID_ARGUMENT" : "GNAS_IMAGE_DECODE";
}

class ImageWorker : public Napi::AsyncWorker {
 public:
  ImageWorker(Napi::Env env, ImageJob job) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      job_.run();
    } catch (const std::bad_alloc&) {
      code_ = "GNAS_OUT_OF_MEMORY";
      SetError("out of memory while decoding an image");
    } catch (const std::exception& e) {
      code_ = code_of(e);
      SetError(e.what());
    }
  }
  void OnOK() override { deferred_.Resolve(job_.result(Env())); }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = Napi::Error::New(Env(), e.Message());
    err.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(err.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ImageJob job_;
  std::string code_ = "GNAS_IMAGE_DECODE";
};

Napi::Value run_job(Napi::Env env, ImageJob job, bool async) {
  if (async) {
    auto* worker = new ImageWorker(env, std::move(job));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  }
  try {
    job.run();
  } catch (const std::bad_alloc&) {
    throw_error(env, "GNAS_OUT_OF_MEMORY", "out of memory while decoding an image");
  } catch (const std::exception& e) {
    throw_error(env, code_of(e), e.what());
  }
  return job.result(env);
}

std::vector<uint8_t> bytes_from_js(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_error(env, "GNAS_INVALID_ARGUMENT", std::string(what) + " must be a Uint8Array", true);
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength());
}

image::Target target_from_js(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) throw_error(env, "GNAS_INVALID_ARGUMENT", "target must be an object {width, height, fit, channels}", true);
  Napi::Object o = v.As<Napi::Object>();
  image::Target t;
  t.width = get_int(o, "width", "target");
  t.height = get_int(o, "height", "target");
  t.channels = get_int(o, "channels", "target");
  std::string fit = get_string(o, "fit", "target");
  if (fit == "cover") t.fit = image::Fit::Cover;
  else if (fit == "fill") t.fit = image::Fit::Fill;
  else throw_error(env, "GNAS_INVALID_ARGUMENT", "target.fit must be 'cover' or 'fill', got '" + fit + "'", true);
  try {
    image::check_target(t);  // before any decoding, whether or not the file is a JPEG
  } catch (const std::invalid_argument& e) {
    throw_error(env, "GNAS_INVALID_ARGUMENT", e.what(), true);
  }
  return t;
}

bool async_from_js(const Napi::CallbackInfo& info, size_t index) {
  return info.Length() > index && info[index].ToBoolean().Value();
}

// decodeImage(bytes, target, async): the prepared image, or null when the native decoder does not
// take the file (not a JPEG, or one sharp must decode). A file that does not start like a JPEG is
// answered at once, before its bytes are copied or any thread is involved.
Napi::Value decode_image(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Value bytes = info[0];
  if (!bytes.IsTypedArray() || bytes.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_error(env, "GNAS_INVALID_ARGUMENT", "decodeImage: bytes must be a Uint8Array", true);
  ImageJob job;
  job.decode = true;
  job.target = target_from_js(env, info[1]);
  const bool async = async_from_js(info, 2);
  Napi::Uint8Array view = bytes.As<Napi::Uint8Array>();
  if (!image::looks_like_jpeg(view.Data(), view.ElementLength())) {
    if (!async) return env.Null();
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Null());
    return d.Promise();
  }
  job.bytes = bytes_from_js(env, bytes, "decodeImage: bytes");
  return run_job(env, std::move(job), async);
}

// prepareImage(data, width, height, channels, target, async): channels and resize of a decoded image.
Napi::Value prepare_image(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ImageJob job;
  job.pixels.data = bytes_from_js(env, info[0], "prepareImage: data");
  for (int k = 1; k <= 3; k++) {
    if (!info[k].IsNumber()) throw_error(env, "GNAS_INVALID_ARGUMENT", "prepareImage: width, height and channels must be numbers", true);
  }
  job.pixels.width = info[1].As<Napi::Number>().Int32Value();
  job.pixels.height = info[2].As<Napi::Number>().Int32Value();
  job.pixels.channels = info[3].As<Napi::Number>().Int32Value();
  job.target = target_from_js(env, info[4]);
  return run_job(env, std::move(job), async_from_js(info, 5));
}

}  // namespace

void define_image_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeImage", Napi::Function::New(env, decode_image));
  exports.Set("prepareImage", Napi::Function::New(env, prepare_image));
  // The JPEG library the native decoder uses ("" when none: then imageDecoderAbsence says why).
  exports.Set("imageDecoder", Napi::String::New(env, image::jpeg_decoder()));
  exports.Set("imageDecoderAbsence", Napi::String::New(env, image::jpeg_decoder_absence()));
}

}  // namespace gnas::binding

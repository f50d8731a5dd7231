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

  // Runs the job; false on failure, with the JS error's code and message in `code` / `message`
  // (GNAS_INVALID_ARGUMENT for bad shapes, GNAS_IMAGE_DECODE for a corrupt file). The one place
  // that turns C++ exceptions into codes, for the inline and the AsyncWorker call alike.
  bool run(std::string& code, std::string& message) {
    try {
      if (decode) {
        std::string why;
        Pixels rgb;
        handled = image::decode_jpeg_rgb(bytes.data(), bytes.size(), rgb, why);
        if (handled) out = image::prepare(rgb, target);
      } else {
        out = image::prepare(pixels, target);
      }
      return true;
    } catch (const std::bad_alloc&) {
      code = "GNAS_OUT_OF_MEMORY";
      message = "out of memory while decoding an image";
    } catch (const std::invalid_argument& e) {
      code = "GNAS_INVALID_ARGUMENT";
      message = e.what();
    } catch (const std::exception& e) {
      code = "GNAS_IMAGE_DECODE";
      message = e.what();
    }
    return false;
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

class ImageWorker : public Napi::AsyncWorker {
 public:
  ImageWorker(Napi::Env env, ImageJob job) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string message;
    if (!job_.run(code_, message)) SetError(message);
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
  std::string code_;
};

Napi::Value run_job(Napi::Env env, ImageJob job, bool async) {
  if (async) {
    auto* worker = new ImageWorker(env, std::move(job));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  }
  std::string code, message;
  if (!job.run(code, message)) throw_error(env, code, message);
  return job.result(env);
}

// `v` as a Uint8Array, or a GNAS_INVALID_ARGUMENT TypeError naming `what`.
Napi::Uint8Array uint8_array(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw_error(env, "GNAS_INVALID_ARGUMENT", std::string(what) + " must be a Uint8Array", true);
  return v.As<Napi::Uint8Array>();
}

// A copy, so that the work never reads JS memory (the caller may reuse its buffer meanwhile).
std::vector<uint8_t> copy_of(const Napi::Uint8Array& a) { return std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength()); }

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
  Napi::Uint8Array bytes = uint8_array(env, info[0], "decodeImage: bytes");
  ImageJob job;
  job.decode = true;
  job.target = target_from_js(env, info[1]);
  const bool async = async_from_js(info, 2);
  if (!image::looks_like_jpeg(bytes.Data(), bytes.ElementLength())) {
    if (!async) return env.Null();
    Napi::Promise::Deferred d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Null());
    return d.Promise();
  }
  job.bytes = copy_of(bytes);
  return run_job(env, std::move(job), async);
}

// prepareImage(data, width, height, channels, target, async): channels and resize of a decoded image.
Napi::Value prepare_image(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ImageJob job;
  job.pixels.data = copy_of(uint8_array(env, info[0], "prepareImage: data"));
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

#include "binding/convert.h"

#include <cmath>

namespace gnas::binding {

void throw_error(Napi::Env env, const std::string& code, const std::string& message, bool type_error) {
  Napi::Error e = type_error ? Napi::TypeError::New(env, message) : Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

static Napi::Value field(const Napi::Object& o, const char* key, const std::string& where) {
  if (!o.Has(key)) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " is missing", true);
  return o.Get(key);
}

double get_number(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = field(o, key, where);
  if (!v.IsNumber()) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " must be a number", true);
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " must be finite", true);
  return d;
}

int get_int(const Napi::Object& o, const char* key, const std::string& where) {
  double d = get_number(o, key, where);
  if (d != std::floor(d) || std::fabs(d) > 2147483647.0)
    throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " must be an integer", true);
  return int(d);
}

std::string get_string(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = field(o, key, where);
  if (!v.IsString()) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " must be a string", true);
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object get_object(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = field(o, key, where);
  if (!v.IsObject() || v.IsArray())
    throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " must be an object", true);
  return v.As<Napi::Object>();
}

Napi::Array get_array(const Napi::Object& o, const char* key, const std::string& where) {
  Napi::Value v = field(o, key, where);
  if (!v.IsArray()) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", where + "." + key + " must be an array", true);
  return v.As<Napi::Array>();
}

static Act act_from_name(Napi::Env env, const std::string& s) {
  if (s == "relu") return Act::ReLU;
  if (s == "relu6") return Act::ReLU6;
  if (s == "hswish") return Act::HSwish;
  throw_error(env, "GNAS_INVALID_ARGUMENT", "space.activation must be relu, relu6 or hswish, got '" + s + "'", true);
}

static LayerDesc layer_from_js(const Napi::Object& o, const std::string& where) {
  LayerDesc l;
  l.cin = get_int(o, "cin", where);
  l.cout = get_int(o, "cout", where);
  l.stride = get_int(o, "stride", where);
  l.height = get_int(o, "height", where);
  l.width = get_int(o, "width", where);
  l.out_height = get_int(o, "outHeight", where);
  l.out_width = get_int(o, "outWidth", where);
  Napi::Array ops = get_array(o, "ops", where);
  for (uint32_t i = 0; i < ops.Length(); i++) {
    std::string w = where + ".ops[" + std::to_string(i) + "]";
    Napi::Value v = ops.Get(i);
    if (!v.IsObject()) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", w + " must be an object", true);
    Napi::Object op = v.As<Napi::Object>();
    OpDesc d;
    std::string kind = get_string(op, "kind", w);
    if (kind == "mbconv") d.kind = OpKind::MBConv;
    else if (kind == "skip") d.kind = OpKind::Skip;
    else if (kind == "conv1x1") d.kind = OpKind::Conv1x1;
    else throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", w + ".kind must be mbconv, skip or conv1x1", true);
    d.name = get_string(op, "name", w);
    d.kernel = get_int(op, "kernel", w);
    d.expansion = get_int(op, "expansion", w);
    Napi::Value se = field(op, "se", w);
    d.se = se.IsBoolean() && se.As<Napi::Boolean>().Value();
    d.mid = get_int(op, "mid", w);
    d.se_width = get_int(op, "seWidth", w);
    l.ops.push_back(d);
  }
  return l;
}

SpaceDesc space_from_js(const Napi::Object& o) {
  Napi::Env env = o.Env();
  SpaceDesc s;
  s.name = get_string(o, "name", "space");
  Napi::Object in = get_object(o, "input", "space");
  s.height = get_int(in, "height", "space.input");
  s.width = get_int(in, "width", "space.input");
  s.channels = get_int(in, "channels", "space.input");
  s.classes = get_int(o, "classes", "space");
  s.act = act_from_name(env, get_string(o, "activation", "space"));
  s.bn_eps = float(get_number(o, "bnEps", "space"));
  s.bn_momentum = float(get_number(o, "bnMomentum", "space"));
  Napi::Object norm = get_object(o, "normalization", "space");
  for (const char* key : {"mean", "std"}) {
    Napi::Array a = get_array(norm, key, "space.normalization");
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber()) throw_error(env, "GNAS_INVALID_ARGUMENT", std::string("space.normalization.") + key + " must hold numbers", true);
      (std::string(key) == "mean" ? s.mean : s.std).push_back(v.As<Napi::Number>().FloatValue());
    }
  }
  Napi::Object stem = get_object(o, "stem", "space");
  s.stem.cin = get_int(stem, "cin", "space.stem");
  s.stem.cout = get_int(stem, "cout", "space.stem");
  s.stem.kernel = get_int(stem, "kernel", "space.stem");
  s.stem.stride = get_int(stem, "stride", "space.stem");
  s.stem.height = get_int(stem, "height", "space.stem");
  s.stem.width = get_int(stem, "width", "space.stem");
  s.stem.out_height = get_int(stem, "outHeight", "space.stem");
  s.stem.out_width = get_int(stem, "outWidth", "space.stem");
  Napi::Array fixed = get_array(o, "fixed", "space");
  for (uint32_t i = 0; i < fixed.Length(); i++) {
    std::string w = "space.fixed[" + std::to_string(i) + "]";
    if (!fixed.Get(i).IsObject()) throw_error(env, "GNAS_INVALID_ARGUMENT", w + " must be an object", true);
    s.fixed.push_back(layer_from_js(fixed.Get(i).As<Napi::Object>(), w));
  }
  Napi::Array layers = get_array(o, "layers", "space");
  for (uint32_t i = 0; i < layers.Length(); i++) {
    std::string w = "space.layers[" + std::to_string(i) + "]";
    if (!layers.Get(i).IsObject()) throw_error(env, "GNAS_INVALID_ARGUMENT", w + " must be an object", true);
    s.layers.push_back(layer_from_js(layers.Get(i).As<Napi::Object>(), w));
  }
  Napi::Object head = get_object(o, "head", "space");
  s.head_cin = get_int(head, "cin", "space.head");
  s.head_cout = get_int(head, "cout", "space.head");
  s.head_height = get_int(head, "height", "space.head");
  s.head_width = get_int(head, "width", "space.head");
  return s;
}

SupernetOptions options_from_js(const Napi::Object& o) {
  SupernetOptions opt;
  double seed = get_number(o, "seed", "options");
  if (seed < 0 || seed != std::floor(seed)) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", "options.seed must be a non-negative integer", true);
  opt.seed = uint64_t(seed);
  opt.threads = get_int(o, "threads", "options");
  opt.backend = get_string(o, "backend", "options");
  // Optional (device backends): device ordinal and GEMM arithmetic.
  if (o.Has("device")) opt.device = get_int(o, "device", "options");
  if (o.Has("math")) opt.math = get_string(o, "math", "options");
  if (o.Has("gpus")) opt.gpus = get_int(o, "gpus", "options");
  opt.momentum = float(get_number(o, "momentum", "options"));
  Napi::Value nv = field(o, "nesterov", "options");
  if (!nv.IsBoolean()) throw_error(o.Env(), "GNAS_INVALID_ARGUMENT", "options.nesterov must be a boolean", true);
  opt.nesterov = nv.As<Napi::Boolean>().Value();
  opt.weight_decay = float(get_number(o, "weightDecay", "options"));
  opt.weight_decay_no_decay = float(get_number(o, "weightDecayNoDecay", "options"));
  opt.label_smoothing = float(get_number(o, "labelSmoothing", "options"));
  if (o.Has("scoreMath")) opt.score_math = get_string(o, "scoreMath", "options");
  return opt;
}

std::vector<int> arch_from_js(Napi::Env env, const Napi::Value& v, const std::string& what) {
  std::vector<int> arch;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    arch.assign(a.Data(), a.Data() + a.ElementLength());
    return arch;
  }
  if (!v.IsArray()) throw_error(env, "GNAS_INVALID_ARGUMENT", what + " must be an array of integers or an Int32Array", true);
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) throw_error(env, "GNAS_INVALID_ARGUMENT", what + "[" + std::to_string(i) + "] must be an integer", true);
    double d = x.As<Napi::Number>().DoubleValue();
    if (d != std::floor(d) || std::fabs(d) > 1e9)
      throw_error(env, "GNAS_INVALID_ARGUMENT", what + "[" + std::to_string(i) + "] must be an integer", true);
    arch.push_back(int(d));
  }
  return arch;
}

OwnedImages images_from_js(Napi::Env env, const Napi::Value& v, const SpaceDesc& space, int expected_n, const std::string& what) {
  const int64_t per = int64_t(space.height) * space.width * space.channels;
  if (!v.IsTypedArray()) throw_error(env, "GNAS_INVALID_ARGUMENT", what + " must be a Uint8Array or Float32Array", true);
  Napi::TypedArray t = v.As<Napi::TypedArray>();
  const napi_typedarray_type type = t.TypedArrayType();
  if (type != napi_uint8_array && type != napi_float32_array)
    throw_error(env, "GNAS_INVALID_ARGUMENT", what + " must be a Uint8Array or Float32Array", true);
  const int64_t len = int64_t(t.ElementLength());
  if (len == 0 || len % per != 0)
    throw_error(env, "GNAS_INVALID_ARGUMENT",
                what + " has " + std::to_string(len) + " elements, not a whole number of " + std::to_string(space.height) +
                    "x" + std::to_string(space.width) + "x" + std::to_string(space.channels) + " images", true);
  const int64_t n = len / per;
  if (expected_n >= 0 && n != expected_n)
    throw_error(env, "GNAS_INVALID_ARGUMENT",
                what + " holds " + std::to_string(n) + " images but there are " + std::to_string(expected_n) + " labels", true);
  if (n > (1 << 24)) throw_error(env, "GNAS_INVALID_ARGUMENT", what + " holds too many images for one call", true);
  OwnedImages out;
  out.n = int(n);
  if (type == napi_uint8_array) {
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    out.u8.assign(a.Data(), a.Data() + len);
  } else {
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    out.f32.assign(a.Data(), a.Data() + len);
    for (float x : out.f32)
      if (!std::isfinite(x)) throw_error(env, "GNAS_INVALID_ARGUMENT", what + " contains a non-finite value", true);
  }
  return out;
}

std::vector<int32_t> labels_from_js(Napi::Env env, const Napi::Value& v, int classes, const std::string& what) {
  std::vector<int32_t> out;
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
  } else {
    throw_error(env, "GNAS_INVALID_ARGUMENT", what + " must be an Int32Array", true);
  }
  if (out.empty()) throw_error(env, "GNAS_INVALID_ARGUMENT", what + " is empty", true);
  for (size_t i = 0; i < out.size(); i++)
    if (out[i] < 0 || out[i] >= classes)
      throw_error(env, "GNAS_INVALID_ARGUMENT",
                  what + "[" + std::to_string(i) + "] = " + std::to_string(out[i]) + " is out of range [0, " +
                      std::to_string(classes - 1) + "]");
  return out;
}

BnMode bn_mode_from_js(Napi::Env env, const Napi::Value& v) {
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "batch") return BnMode::Batch;
    if (s == "running") return BnMode::Running;
  }
  throw_error(env, "GNAS_INVALID_ARGUMENT", "bn must be 'batch' or 'running'", true);
}

}  // namespace gnas::binding

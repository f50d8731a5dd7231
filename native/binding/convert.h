// Conversions between JS values and the engine's plain C++ structs. Every getter checks the
// type and throws a Napi::TypeError naming the field; no math lives here.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "supernet/space_desc.h"
#include "supernet/supernet_types.h"

namespace gnas::binding {

// Throws a JS error with a `code` property (GNAS_INVALID_ARGUMENT, GNAS_BUSY, GNAS_NATIVE).
[[noreturn]] void throw_error(Napi::Env env, const std::string& code, const std::string& message, bool type_error = false);

double get_number(const Napi::Object& o, const char* key, const std::string& where);
int get_int(const Napi::Object& o, const char* key, const std::string& where);
std::string get_string(const Napi::Object& o, const char* key, const std::string& where);
Napi::Object get_object(const Napi::Object& o, const char* key, const std::string& where);
Napi::Array get_array(const Napi::Object& o, const char* key, const std::string& where);

// The ResolvedSpace object of src/space/types.ts.
SpaceDesc space_from_js(const Napi::Object& o);
SupernetOptions options_from_js(const Napi::Object& o);

// An arch as an Int32Array or a plain array of integers.
std::vector<int> arch_from_js(Napi::Env env, const Napi::Value& v, const std::string& what);

// Images copied out of a Uint8Array (NHWC 0..255) or Float32Array (NHWC [0,1]) into owned
// storage, so that the worker thread never reads JS memory.
struct OwnedImages {
  std::vector<uint8_t> u8;
  std::vector<float> f32;
  int n = 0;
  Batch batch(const int32_t* labels) const {
    Batch b;
    b.n = n;
    b.labels = labels;
    if (!u8.empty()) b.u8 = u8.data();
    else b.f32 = f32.data();
    return b;
  }
};
// `expected_n` < 0: infer n from the length (must be a whole number of images).
OwnedImages images_from_js(Napi::Env env, const Napi::Value& v, const SpaceDesc& space, int expected_n, const std::string& what);
std::vector<int32_t> labels_from_js(Napi::Env env, const Napi::Value& v, int classes, const std::string& what);
BnMode bn_mode_from_js(Napi::Env env, const Napi::Value& v);

}  // namespace gnas::binding

// The JPEG decoder of image.h over libjpeg(-turbo)'s classic API, loaded at run time: the build
// needs only jpeglib.h (GNAS_HAVE_JPEG), and the addon dlopen()s libjpeg.so.62 (libjpeg-turbo's
// library on Debian, Ubuntu, Fedora) on first use. Why not linked: Debian's libjpeg.a is not
// position-independent, and a shared dependency would stop the whole addon from loading where
// libjpeg is absent. Without the library, or with GNAS_NATIVE_JPEG=0, every JPEG goes to sharp:
// the same pixels (both decode with libjpeg-turbo's default integer IDCT and fancy upsampling,
// which test/data-image-native.test.ts checks), only slower.
#include "image/image.h"

#include <stdexcept>

#if GNAS_HAVE_JPEG
#include <dlfcn.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <jpeglib.h>
#endif

namespace gnas::image {

bool looks_like_jpeg(const uint8_t* data, size_t size) { return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF; }

#if GNAS_HAVE_JPEG

namespace {

// The libjpeg functions used, resolved from the shared library once.
struct Libjpeg {
  bool loaded = false;
  std::string where;  // the library's path, or why it is not used
  decltype(&jpeg_std_error) std_error = nullptr;
  decltype(&jpeg_CreateDecompress) create_decompress = nullptr;
  decltype(&jpeg_destroy_decompress) destroy_decompress = nullptr;
  decltype(&jpeg_mem_src) mem_src = nullptr;
  decltype(&jpeg_save_markers) save_markers = nullptr;
  decltype(&jpeg_read_header) read_header = nullptr;
  decltype(&jpeg_start_decompress) start_decompress = nullptr;
  decltype(&jpeg_read_scanlines) read_scanlines = nullptr;
  decltype(&jpeg_finish_decompress) finish_decompress = nullptr;
};

template <typename F>
bool resolve(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  return fn != nullptr;
}

const Libjpeg& libjpeg() {
  static Libjpeg lj;
  static std::once_flag once;
  std::call_once(once, [] {
    const char* off = std::getenv("GNAS_NATIVE_JPEG");
    if (off != nullptr && std::strcmp(off, "0") == 0) {
      lj.where = "turned off by GNAS_NATIVE_JPEG=0";
      return;
    }
    // The ABI of the headers this file was compiled with; jpeg_CreateDecompress checks it again.
    const std::string soname = "libjpeg.so." + std::to_string(JPEG_LIB_VERSION);
    void* lib = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      lj.where = soname + " not found";
      return;
    }
    bool ok = resolve(lib, "jpeg_std_error", lj.std_error) && resolve(lib, "jpeg_CreateDecompress", lj.create_decompress) &&
              resolve(lib, "jpeg_destroy_decompress", lj.destroy_decompress) && resolve(lib, "jpeg_mem_src", lj.mem_src) &&
              resolve(lib, "jpeg_save_markers", lj.save_markers) && resolve(lib, "jpeg_read_header", lj.read_header) &&
              resolve(lib, "jpeg_start_decompress", lj.start_decompress) && resolve(lib, "jpeg_read_scanlines", lj.read_scanlines) &&
              resolve(lib, "jpeg_finish_decompress", lj.finish_decompress);
    if (!ok) {
      lj.where = soname + " lacks a needed function (jpeg_mem_src needs libjpeg-turbo)";
      dlclose(lib);
      return;
    }
    Dl_info info;
    lj.where = dladdr(reinterpret_cast<void*>(lj.read_header), &info) != 0 && info.dli_fname != nullptr ? info.dli_fname : soname;
    lj.loaded = true;
  });
  return lj;
}

// libjpeg reports errors through callbacks that must not return: the error manager jumps back
// to decode_jpeg_rgb's setjmp with the message. Only plain C data lives in the frames it jumps
// over (libjpeg's own), so no destructor is skipped.
struct ErrorManager {
  jpeg_error_mgr base;
  jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  err->base.format_message(cinfo, err->message);
  longjmp(err->jump, 1);
}

// Warnings (level -1: corrupt data libjpeg would paper over, a truncated file) are errors here,
// as with sharp's failOn 'warning'; trace messages (levels >= 0) are ignored.
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);
}

bool has_icc_profile(const jpeg_decompress_struct& cinfo) {
  static const char kTag[] = "ICC_PROFILE";  // APP2 payloads start with this tag and a NUL
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 2 && m->data_length >= sizeof(kTag) && std::memcmp(m->data, kTag, sizeof(kTag)) == 0) return true;
  }
  return false;
}

}  // namespace

std::string jpeg_decoder() {
  const Libjpeg& lj = libjpeg();
  return lj.loaded ? lj.where : "";
}

std::string jpeg_decoder_absence() {
  const Libjpeg& lj = libjpeg();
  return lj.loaded ? "" : lj.where;
}

bool decode_jpeg_rgb(const uint8_t* data, size_t size, Pixels& out, std::string& why) {
  if (!looks_like_jpeg(data, size)) {
    why = "not a JPEG";
    return false;
  }
  const Libjpeg& lj = libjpeg();
  if (!lj.loaded) {
    why = lj.where;
    return false;
  }
  jpeg_decompress_struct cinfo;
  ErrorManager err;
  cinfo.err = lj.std_error(&err.base);
  err.base.error_exit = on_error;
  err.base.emit_message = on_message;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    lj.destroy_decompress(&cinfo);
    throw std::runtime_error(std::string("JPEG decode failed: ") + err.message);
  }
  lj.create_decompress(&cinfo, JPEG_LIB_VERSION, sizeof(cinfo));
  lj.mem_src(&cinfo, data, static_cast<unsigned long>(size));
  lj.save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF);
  lj.read_header(&cinfo, TRUE);
  const char* skip = nullptr;
  if (cinfo.data_precision != 8) skip = "not 8-bit samples";
  else if (cinfo.jpeg_color_space != JCS_YCbCr && cinfo.jpeg_color_space != JCS_GRAYSCALE && cinfo.jpeg_color_space != JCS_RGB)
    skip = "CMYK or YCCK colour";
  else if (has_icc_profile(cinfo)) skip = "an embedded ICC profile";
  else if (int64_t(cinfo.image_width) * cinfo.image_height > kMaxPixels) skip = "larger than the native decoder's pixel limit";
  if (skip != nullptr) {
    why = skip;
    lj.destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = JCS_RGB;  // grey is replicated, as sharp's raw output does
  const size_t stride = size_t(cinfo.image_width) * 3;
  try {
    out.data.resize(stride * cinfo.image_height);
  } catch (...) {
    lj.destroy_decompress(&cinfo);
    throw;
  }
  lj.start_decompress(&cinfo);  // no scaling: the output is image_width x image_height
  out.width = int(cinfo.output_width);
  out.height = int(cinfo.output_height);
  out.channels = 3;
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data.data() + size_t(cinfo.output_scanline) * stride;
    lj.read_scanlines(&cinfo, &row, 1);
  }
  lj.finish_decompress(&cinfo);
  lj.destroy_decompress(&cinfo);
  return true;
}

#else  // built without libjpeg

std::string jpeg_decoder() { return ""; }

std::string jpeg_decoder_absence() {
  return "built without it (no jpeglib.h at build time: install libjpeg62-turbo-dev and rebuild; or -DGNAS_JPEG=OFF)";
}

bool decode_jpeg_rgb(const uint8_t*, size_t, Pixels&, std::string& why) {
  why = "this build has no JPEG decoder";
  return false;
}

#endif

}  // namespace gnas::image

// Image files to stored tensors for the data loaders (src/data/): a JPEG decoder over libjpeg-turbo
// and the pixel preparation every decoded image goes through (channels, then an antialiased
// resize). Plain C++ with no Node and no supernet: native/binding/image_wrap.cpp exposes it.
//
// Why native: through sharp, each small image costs ~1-1.5 ms of CPU in libvips' fixed per-pipeline
// work (operation objects, thread hand-offs), ten to twenty times what this decode and resize take
// (scripts/decode-cost.mjs), and the streaming loader could not keep up with the engine. Files this decoder does not
// take (PNG, WebP, CMYK or colour-managed JPEGs) are decoded by sharp and still prepared here, so
// every path resizes with the same filter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gnas::image {

struct Pixels {
  std::vector<uint8_t> data;  // interleaved rows, `channels` bytes per pixel
  int width = 0;
  int height = 0;
  int channels = 0;
};

enum class Fit { Cover, Fill };

// The size and channels an image is stored with; width = height = 0 keeps the image's own size.
struct Target {
  int width = 0;
  int height = 0;
  Fit fit = Fit::Cover;
  int channels = 3;  // 1 (luma) or 3 (RGB)
};

// The largest image accepted (width x height), sharp's default limit: a larger one is refused
// before any pixel memory is allocated.
constexpr int64_t kMaxPixels = int64_t(0x3FFF) * 0x3FFF;

// The JPEG library in use (its path), or "" when none is: then jpeg_decoder_absence() says why.
std::string jpeg_decoder();
std::string jpeg_decoder_absence();

// Whether `data` starts with a JPEG's SOI marker and the next marker's 0xFF (what
// decode_jpeg_rgb checks first).
bool looks_like_jpeg(const uint8_t* data, size_t size);

// Decodes `data` into 8-bit RGB when it is a JPEG this decoder takes: 8-bit samples in YCbCr,
// grey or RGB, without an ICC profile (sharp would colour-manage one; CMYK too). Returns false,
// with the reason in `why`, for anything else (not a JPEG, or one of those kinds); the caller
// then decodes with sharp. Throws std::runtime_error naming the fault for a corrupt or truncated
// JPEG: any libjpeg warning is an error, as with sharp's failOn 'warning'.
bool decode_jpeg_rgb(const uint8_t* data, size_t size, Pixels& out, std::string& why);

// Throws std::invalid_argument naming what is wrong with `target` (channels not 1 or 3, a size
// that is negative, half zero, or above kMaxPixels).
void check_target(const Target& target);

// `in` (1 to 4 channels: grey, grey + alpha, RGB, RGBA) converted to `target.channels`, then
// resized to the target size: see prepare.cpp. Throws std::invalid_argument for bad shapes.
Pixels prepare(const Pixels& in, const Target& target);

}  // namespace gnas::image

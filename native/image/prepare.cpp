// The pixel preparation of image.h: channels first (at the source size, so a grey target resizes
// one channel, not three), then the resize.
//
// Channels: alpha is multiplied into the colour (flattened on black, rounded v * a / 255) and
// dropped; one channel is BT.601 luma (299 R + 587 G + 114 B) / 1000, rounded, PIL's convert('L');
// grey is replicated into three.
//
// Resize: a separable triangle filter whose radius is max(1, 1 / scale) source pixels, the
// antialiased bilinear resize of PIL and of torchvision's antialias=True, so a reduction averages
// every source pixel it covers. Output pixel i of an axis is centred at offset + (i + 0.5) / scale
// in source coordinates (pixel centres at half-integers). 'cover' scales both axes by the larger
// ratio and keeps the centred window; 'fill' scales each axis on its own. Weights and sums are in
// double precision, the row pass is stored as float, the column pass rounds half up: the same
// arithmetic in the same order as the reference in test/data-image-native.test.ts, which must
// match it exactly (no FMA contraction: this file gets no -mfma).
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "image/image.h"

namespace gnas::image {

namespace {

Pixels convert_channels(const Pixels& in, int channels) {
  Pixels out;
  out.width = in.width;
  out.height = in.height;
  out.channels = channels;
  const size_t count = size_t(in.width) * in.height;
  out.data.resize(count * channels);
  const int cin = in.channels;
  const bool colour = cin >= 3;
  const bool alpha = cin == 2 || cin == 4;
  const uint8_t* s = in.data.data();
  uint8_t* d = out.data.data();
  for (size_t p = 0; p < count; p++, s += cin) {
    unsigned r = s[0];
    unsigned g = colour ? s[1] : r;
    unsigned b = colour ? s[2] : r;
    if (alpha) {
      const unsigned a = s[cin - 1];
      r = (r * a + 127) / 255;
      g = (g * a + 127) / 255;
      b = (b * a + 127) / 255;
    }
    if (channels == 1) {
      d[p] = uint8_t(colour ? (299 * r + 587 * g + 114 * b + 500) / 1000 : r);
    } else {
      d[3 * p] = uint8_t(r);
      d[3 * p + 1] = uint8_t(g);
      d[3 * p + 2] = uint8_t(b);
    }
  }
  return out;
}

// Per output index of one axis: the first source index, the tap count, and `taps` weights.
struct AxisFilter {
  std::vector<int> first;
  std::vector<int> count;
  std::vector<double> weights;
  int taps = 0;
};

AxisFilter axis_filter(int in_size, int out_size, double scale, double offset) {
  AxisFilter f;
  const double support = std::max(1.0, 1.0 / scale);
  f.taps = int(std::ceil(support)) * 2 + 1;
  f.first.assign(out_size, 0);
  f.count.assign(out_size, 0);
  f.weights.assign(size_t(out_size) * f.taps, 0.0);
  for (int i = 0; i < out_size; i++) {
    const double centre = offset + (i + 0.5) / scale;
    const int lo = std::max(0, int(std::floor(centre - support)));
    const int hi = std::min(in_size, int(std::ceil(centre + support)));
    double* w = &f.weights[size_t(i) * f.taps];
    double sum = 0;
    int n = 0;
    for (int j = lo; j < hi && n < f.taps; j++, n++) {
      w[n] = std::max(0.0, 1.0 - std::fabs(j + 0.5 - centre) / support);
      sum += w[n];
    }
    if (sum == 0) {  // cannot happen for cover or fill (every centre lies inside the image); kept safe
      f.first[i] = std::min(in_size - 1, std::max(0, int(std::floor(centre))));
      f.count[i] = 1;
      w[0] = 1;
      continue;
    }
    for (int k = 0; k < n; k++) w[k] /= sum;
    f.first[i] = lo;
    f.count[i] = n;
  }
  return f;
}

// One source row filtered along x into `dst` (width x C floats), each channel's taps summed in order.
template <int C>
void row_pass(const uint8_t* src, float* dst, const AxisFilter& fx, int width) {
  for (int x = 0; x < width; x++) {
    const double* w = &fx.weights[size_t(x) * fx.taps];
    const uint8_t* s0 = src + size_t(fx.first[x]) * C;
    const int n = fx.count[x];
    double acc[C] = {};
    for (int k = 0; k < n; k++) {
      const double wk = w[k];
      for (int c = 0; c < C; c++) acc[c] += wk * s0[k * C + c];
    }
    for (int c = 0; c < C; c++) dst[size_t(x) * C + c] = float(acc[c]);
  }
}

Pixels resize(const Pixels& in, int width, int height, Fit fit) {
  const int W = in.width, H = in.height, C = in.channels;
  double sx = double(width) / W;
  double sy = double(height) / H;
  if (fit == Fit::Cover) sx = sy = std::max(sx, sy);
  const AxisFilter fx = axis_filter(W, width, sx, (W - width / sx) / 2);
  const AxisFilter fy = axis_filter(H, height, sy, (H - height / sy) / 2);
  const int row_lo = fy.first[0];
  const int row_hi = fy.first[height - 1] + fy.count[height - 1];
  const size_t row_len = size_t(width) * C;
  std::vector<float> tmp(size_t(row_hi - row_lo) * row_len);
  for (int y = row_lo; y < row_hi; y++) {
    const uint8_t* src = in.data.data() + size_t(y) * W * C;
    float* dst = tmp.data() + size_t(y - row_lo) * row_len;
    // A constant channel count lets the compiler unroll the channel loop; prepare() converts to
    // the target's 1 or 3 channels before resizing.
    if (C == 1) row_pass<1>(src, dst, fx, width);
    else if (C == 3) row_pass<3>(src, dst, fx, width);
    else throw std::invalid_argument("resize of " + std::to_string(C) + " channels: expected 1 or 3");
  }
  Pixels out;
  out.width = width;
  out.height = height;
  out.channels = C;
  out.data.resize(size_t(height) * row_len);
  // Tap-major, so the inner loop runs along the row (vectorised); each sum still adds its taps in
  // order k = 0..n-1, the reference's order.
  std::vector<double> acc(row_len);
  for (int y = 0; y < height; y++) {
    const double* w = &fy.weights[size_t(y) * fy.taps];
    const float* s0 = tmp.data() + size_t(fy.first[y] - row_lo) * row_len;
    const int n = fy.count[y];
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int k = 0; k < n; k++) {
      const double wk = w[k];
      const float* sk = s0 + size_t(k) * row_len;
      for (size_t i = 0; i < row_len; i++) acc[i] += wk * double(sk[i]);
    }
    uint8_t* dst = out.data.data() + size_t(y) * row_len;
    for (size_t i = 0; i < row_len; i++) {
      // Rounds half up: truncation equals floor for v >= 0, and anything below 0 clamps to 0
      // either way (the weights are non-negative and sum to 1, so |acc| <= 255).
      const int v = int(acc[i] + 0.5);
      dst[i] = uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
    }
  }
  return out;
}

}  // namespace

void check_target(const Target& target) {
  if (target.channels != 1 && target.channels != 3)
    throw std::invalid_argument("target channels " + std::to_string(target.channels) + ": expected 1 or 3");
  if (target.width < 0 || target.height < 0 || (target.width == 0) != (target.height == 0))
    throw std::invalid_argument("target size " + std::to_string(target.width) + "x" + std::to_string(target.height) +
                                ": expected both positive, or both 0 for the image's own size");
  if (int64_t(target.width) * target.height > kMaxPixels)
    throw std::invalid_argument("target size " + std::to_string(target.width) + "x" + std::to_string(target.height) + " is too large");
}

Pixels prepare(const Pixels& in, const Target& target) {
  if (in.width < 1 || in.height < 1 || in.channels < 1 || in.channels > 4)
    throw std::invalid_argument("image of " + std::to_string(in.width) + "x" + std::to_string(in.height) + "x" +
                                std::to_string(in.channels) + ": expected a positive size and 1 to 4 channels");
  if (in.data.size() != size_t(in.width) * in.height * in.channels)
    throw std::invalid_argument("image data of " + std::to_string(in.data.size()) + " bytes for " + std::to_string(in.width) +
                                "x" + std::to_string(in.height) + "x" + std::to_string(in.channels));
  check_target(target);
  Pixels converted;
  const Pixels& src = in.channels == target.channels ? in : (converted = convert_channels(in, target.channels));
  if (target.width == 0 || (target.width == src.width && target.height == src.height)) return src;
  return resize(src, target.width, target.height, target.fit);
}

}  // namespace gnas::image

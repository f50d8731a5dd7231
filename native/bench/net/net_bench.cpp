// gnas_net_bench: whole-network throughput of the supernet on one backend (no Node needed), the
// engine's side of the GPU check (scripts/gpu-check.sh; PyTorch's side: bench/peers/torch_gpu.py).
//
//   gnas_net_bench --desc F --arch F [--backend cpu|reference|cuda] [--device N] [--gpus N]
//                  [--math fp32|tf32|bf16[,...]] [--batch 128] [--warmup 3] [--iters 10]
//                  [--paths 10] [--rounds 3] [--score-images N] [--threads 0] [--seed 0]
//                  [--lr 0.05] [--json]
//
// The space and the arch are the plain-text files of native/supernet/space_desc_text.h
// (bench/net/*.desc, *.arch). Images are synthetic, seeded uint8 NHWC in host memory and labels
// int32, as the binding hands them to the engine: every call uploads its batch (a device
// backend) and normalises it natively, so the upload is part of every timing. Measures:
//   train   Supernet::train_step (forward with train-mode BN, backward, SGD momentum 0.9
//           nesterov, wd 4e-5, label smoothing 0.1) on the given arch: images/s of the median
//           timed iteration after --warmup untimed ones (at least one: the first, cold step,
//           whose time is reported apart as cold_train_s); 2 batches alternate
//   eval    Supernet::evaluate({arch}, batch, BnMode::Batch): forward, loss and top-1 of one
//           path with batch statistics (GreedyNAS scoring); images/s of the median iteration
//   round   a GreedyNAS round: evaluate() of --paths random archs (seeded, uniform per layer) in
//           one call on one batch of --score-images images (default: --batch); seconds, median
//           of --rounds rounds after one cold round (reported apart), new paths every round
// Every timer stops after Backend::synchronize(), so device work issued asynchronously is counted.
// Also reported: the arch's forward multiply-accumulates per image (convolutions, SE, fc; the
// napkin count) and parameter count, the Supernet build time and the first (cold) train step.
//
// Output: with --json, one JSON object per line on stdout per --math value:
//   {"bench":"net","space":...,"backend":...,"math":...,"batch":...,"train_img_s":...,
//    "eval_img_s":...,"round_s":..., ...}
// without it, the same figures as readable lines. Progress goes to stderr. Errors: a message on
// stderr and exit status 1 (also when a training loss is not finite: the JSON line still comes).
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel/supernet.h"
#include "supernet/space_desc.h"
#include "supernet/space_desc_text.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string desc, arch;
  std::string backend = "cpu";
  int device = 0;
  int gpus = 1;
  std::vector<std::string> maths{"fp32"};
  int batch = 128;
  int warmup = 3;
  int iters = 10;
  int paths = 10;
  int rounds = 3;
  int score_images = 0;  // 0: --batch
  int threads = 0;
  uint64_t seed = 0;
  float lr = 0.05f;
  bool json = false;
};

const char* const kUsage =
    "usage: gnas_net_bench --desc F --arch F [--backend cpu|reference|cuda] [--device N] [--gpus N]\n"
    "                      [--math fp32|tf32|bf16[,...]] [--batch 128] [--warmup 3] [--iters 10] [--paths 10]\n"
    "                      [--rounds 3] [--score-images N] [--threads 0] [--seed 0] [--lr 0.05] [--json]";

[[noreturn]] void usage_error(const std::string& msg) { throw std::invalid_argument(msg + "\n" + kUsage); }

long parse_int(const std::string& flag, const std::string& v, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi)
    usage_error(flag + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" +
                v + "'");
  return x;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; i++) {
    const std::string f = argv[i];
    if (f == "--json") {
      a.json = true;
      continue;
    }
    if (f == "-h" || f == "--help") {
      std::printf("%s\n", kUsage);
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error(f + ": missing value");
    const std::string v = argv[++i];
    if (f == "--desc") a.desc = v;
    else if (f == "--arch") a.arch = v;
    else if (f == "--backend") a.backend = v;
    else if (f == "--device") a.device = int(parse_int(f, v, 0, 1024));
    else if (f == "--gpus") a.gpus = int(parse_int(f, v, 1, 1024));
    else if (f == "--math") {
      a.maths = split_commas(v);
      if (a.maths.empty()) usage_error("--math: empty");
      for (const auto& m : a.maths)
        if (m != "fp32" && m != "tf32" && m != "bf16") usage_error("--math: expected fp32, tf32 or bf16, got '" + m + "'");
    } else if (f == "--batch") a.batch = int(parse_int(f, v, 1, 1 << 20));
    else if (f == "--warmup") a.warmup = int(parse_int(f, v, 0, 1 << 20));
    else if (f == "--iters") a.iters = int(parse_int(f, v, 1, 1 << 20));
    else if (f == "--paths") a.paths = int(parse_int(f, v, 1, 1 << 20));
    else if (f == "--rounds") a.rounds = int(parse_int(f, v, 0, 1 << 20));
    else if (f == "--score-images") a.score_images = int(parse_int(f, v, 1, 1 << 20));
    else if (f == "--threads") a.threads = int(parse_int(f, v, 0, 4096));
    else if (f == "--seed") a.seed = uint64_t(parse_int(f, v, 0, 0x7fffffffffffffffL));
    else if (f == "--lr") {
      char* end = nullptr;
      a.lr = std::strtof(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(a.lr >= 0.0f) || !std::isfinite(a.lr)) usage_error("--lr: expected a number >= 0");
    } else usage_error("unknown option '" + f + "'");
  }
  if (a.desc.empty() || a.arch.empty()) usage_error("--desc and --arch are required");
  if (a.score_images == 0) a.score_images = a.batch;
  return a;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Forward multiply-accumulates of one image through the arch (napkin count: convolutions, SE's two
// fully-connected layers, the classifier; no BN, activations, pooling or additions).
int64_t path_macs(const gnas::SpaceDesc& sp, const std::vector<int>& arch) {
  using gnas::OpKind;
  int64_t macs = int64_t(sp.stem.out_height) * sp.stem.out_width * sp.stem.cout * sp.stem.kernel * sp.stem.kernel *
                 sp.stem.cin;
  auto layer = [&](const gnas::LayerDesc& l, const gnas::OpDesc& op) {
    const int64_t in_px = int64_t(l.height) * l.width, out_px = int64_t(l.out_height) * l.out_width;
    switch (op.kind) {
      case OpKind::Skip:
        return int64_t(0);
      case OpKind::Conv1x1:
        return out_px * l.cin * l.cout;
      case OpKind::MBConv: {
        int64_t m = 0;
        if (op.expansion != 1) m += in_px * l.cin * op.mid;
        m += out_px * op.mid * op.kernel * op.kernel;
        if (op.se) m += 2 * int64_t(op.mid) * op.se_width;
        m += out_px * op.mid * l.cout;
        return m;
      }
    }
    return int64_t(0);
  };
  for (const auto& l : sp.fixed)
    if (!l.ops.empty()) macs += layer(l, l.ops[0]);
  for (size_t i = 0; i < sp.layers.size() && i < arch.size(); i++) macs += layer(sp.layers[i], sp.layers[i].ops[arch[i]]);
  macs += int64_t(sp.head_height) * sp.head_width * sp.head_cin * sp.head_cout;
  macs += int64_t(sp.head_cout) * sp.classes;
  return macs;
}

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o + "\"";
}

// JSON has no NaN/Infinity: those become null.
std::string json_num(double x, int digits = 6) {
  if (!std::isfinite(x)) return "null";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return buf;
}

struct Data {
  int n = 0;
  std::vector<uint8_t> images;
  std::vector<int32_t> labels;
  gnas::Batch batch() const {
    gnas::Batch b;
    b.u8 = images.data();
    b.labels = labels.data();
    b.n = n;
    return b;
  }
};

Data make_data(const gnas::SpaceDesc& sp, int n, std::mt19937_64& rng) {
  Data d;
  d.n = n;
  d.images.resize(size_t(n) * size_t(sp.height) * size_t(sp.width) * size_t(sp.channels));
  for (auto& v : d.images) v = uint8_t(rng() >> 56);
  d.labels.resize(size_t(n));
  std::uniform_int_distribution<int32_t> cls(0, sp.classes - 1);
  for (auto& v : d.labels) v = cls(rng);
  return d;
}

void log(const std::string& m) { std::fprintf(stderr, "[gnas_net_bench] %s\n", m.c_str()); }

// Runs one configuration; returns false when a training loss was not finite.
bool run_one(const Args& a, const std::string& math, const gnas::SpaceDesc& sp, const std::vector<int>& arch,
             const std::string& desc_name) {
  gnas::SupernetOptions o;
  o.seed = a.seed;
  o.threads = a.threads;
  o.backend = a.backend;
  o.device = a.device;
  o.math = math;
  o.gpus = a.gpus;

  const auto tb = Clock::now();
  gnas::Supernet net(sp, o);
  gnas::Backend& be = net.backend();
  be.synchronize();
  const double build_s = seconds_since(tb);
  net.check_arch(arch);
  log(a.backend + "/" + math + ": supernet built in " + json_num(build_s, 3) + " s (" + be.name() + ")");

  std::mt19937_64 rng(a.seed * 0x9E3779B97F4A7C15ULL + 12345);
  std::vector<Data> train_data;
  train_data.push_back(make_data(sp, a.batch, rng));
  train_data.push_back(make_data(sp, a.batch, rng));

  // ---- train ----
  bool finite = true;
  std::vector<double> losses;
  auto step = [&](int i) {
    gnas::StepResult r = net.train_step(arch, train_data[size_t(i) % train_data.size()].batch(), a.lr);
    be.synchronize();
    losses.push_back(r.loss);
    if (!std::isfinite(r.loss)) finite = false;
  };
  auto t0 = Clock::now();
  step(0);
  const double cold_train_s = seconds_since(t0);
  for (int i = 1; i < a.warmup; i++) step(i);
  std::vector<double> train_ms;
  for (int i = 0; i < a.iters; i++) {
    t0 = Clock::now();
    step(a.warmup + i);
    train_ms.push_back(1e3 * seconds_since(t0));
  }
  const double train_med_ms = median(train_ms);
  const double train_img_s = a.batch / (train_med_ms * 1e-3);
  log(math + " train: " + json_num(train_img_s, 5) + " images/s (median " + json_num(train_med_ms, 4) + " ms)");

  // ---- eval (one path, batch statistics) ----
  const std::vector<std::vector<int>> one{arch};
  for (int i = 0; i < std::max(1, a.warmup); i++) {
    net.evaluate(one, train_data[size_t(i) % 2].batch(), gnas::BnMode::Batch);
    be.synchronize();
  }
  std::vector<double> eval_ms;
  double eval_loss = std::nan("");
  for (int i = 0; i < a.iters; i++) {
    t0 = Clock::now();
    std::vector<gnas::PathScore> s = net.evaluate(one, train_data[size_t(i) % 2].batch(), gnas::BnMode::Batch);
    be.synchronize();
    eval_ms.push_back(1e3 * seconds_since(t0));
    if (!s.empty()) eval_loss = s[0].loss;
  }
  const double eval_med_ms = median(eval_ms);
  const double eval_img_s = a.batch / (eval_med_ms * 1e-3);
  log(math + " eval: " + json_num(eval_img_s, 5) + " images/s (median " + json_num(eval_med_ms, 4) + " ms)");

  // ---- GreedyNAS round: --paths random archs in one evaluate() call ----
  Data score = a.score_images == a.batch ? train_data[0] : make_data(sp, a.score_images, rng);
  std::mt19937_64 path_rng(a.seed + 777);
  auto random_paths = [&]() {
    std::vector<std::vector<int>> ps(size_t(a.paths), std::vector<int>(sp.layers.size()));
    for (auto& p : ps)
      for (size_t l = 0; l < p.size(); l++) p[l] = int(path_rng() % sp.layers[l].ops.size());
    return ps;
  };
  double cold_round_s = std::nan(""), round_s = std::nan("");
  std::vector<double> round_times;
  for (int r = 0; r <= a.rounds; r++) {
    const auto ps = random_paths();
    t0 = Clock::now();
    net.evaluate(ps, score.batch(), gnas::BnMode::Batch);
    be.synchronize();
    const double dt = seconds_since(t0);
    if (r == 0) cold_round_s = dt;
    else round_times.push_back(dt);
  }
  round_s = a.rounds > 0 ? median(round_times) : cold_round_s;
  log(math + " round (" + std::to_string(a.paths) + " paths x " + std::to_string(a.score_images) +
      " images): " + json_num(round_s, 4) + " s (cold " + json_num(cold_round_s, 4) + " s)");

  const int64_t macs = path_macs(sp, arch);
  const int64_t params = net.path_parameter_count(arch);
  auto minmax = [](const std::vector<double>& v) {
    auto mm = std::minmax_element(v.begin(), v.end());
    return "[" + json_num(*mm.first, 4) + "," + json_num(*mm.second, 4) + "]";
  };
  if (a.json) {
    std::string j = "{\"bench\":\"net\"";
    j += ",\"space\":" + json_str(sp.name.empty() ? desc_name : sp.name);
    j += ",\"backend\":" + json_str(a.backend);
    j += ",\"backend_name\":" + json_str(be.name());
    j += ",\"device\":" + std::to_string(be.device());
    j += ",\"gpus\":" + std::to_string(net.replicas());
    j += ",\"math\":" + json_str(math);
    j += ",\"batch\":" + std::to_string(a.batch);
    j += ",\"image\":[" + std::to_string(sp.height) + "," + std::to_string(sp.width) + "," + std::to_string(sp.channels) + "]";
    j += ",\"train_img_s\":" + json_num(train_img_s);
    j += ",\"eval_img_s\":" + json_num(eval_img_s);
    j += ",\"round_s\":" + json_num(round_s);
    j += ",\"round_paths\":" + std::to_string(a.paths);
    j += ",\"round_images\":" + std::to_string(a.score_images);
    j += ",\"cold_round_s\":" + json_num(cold_round_s);
    j += ",\"train_ms_median\":" + json_num(train_med_ms) + ",\"train_ms_minmax\":" + minmax(train_ms);
    j += ",\"eval_ms_median\":" + json_num(eval_med_ms) + ",\"eval_ms_minmax\":" + minmax(eval_ms);
    j += ",\"cold_train_s\":" + json_num(cold_train_s);
    j += ",\"build_s\":" + json_num(build_s);
    j += ",\"warmup\":" + std::to_string(a.warmup) + ",\"iters\":" + std::to_string(a.iters);
    j += ",\"macs_per_image\":" + std::to_string(macs);
    j += ",\"params_path\":" + std::to_string(params);
    j += ",\"threads\":" + std::to_string(be.threads());
    j += ",\"lr\":" + json_num(a.lr);
    j += ",\"loss_first\":" + json_num(losses.front()) + ",\"loss_last\":" + json_num(losses.back());
    j += ",\"eval_loss\":" + json_num(eval_loss);
    j += ",\"finite\":" + std::string(finite ? "true" : "false");
    j += ",\"inputs\":\"host uint8 NHWC, uploaded and normalised in every call\"";
    j += "}";
    std::printf("%s\n", j.c_str());
  } else {
    std::printf("%s  backend %s (%s)  math %s  batch %d  image %dx%dx%d\n", sp.name.c_str(), a.backend.c_str(),
                be.name().c_str(), math.c_str(), a.batch, sp.height, sp.width, sp.channels);
    std::printf("  train  %10.1f images/s   median %.3f ms  (cold first step %.3f s)\n", train_img_s, train_med_ms,
                cold_train_s);
    std::printf("  eval   %10.1f images/s   median %.3f ms\n", eval_img_s, eval_med_ms);
    std::printf("  round  %10.4f s  (%d paths x %d images; cold %.4f s)\n", round_s, a.paths, a.score_images,
                cold_round_s);
    std::printf("  path   %.1f MMACs/image, %lld parameters; loss %.4f -> %.4f%s\n", double(macs) / 1e6,
                static_cast<long long>(params), losses.front(), losses.back(), finite ? "" : "  (NOT FINITE)");
  }
  std::fflush(stdout);
  if (!finite) log("error: a training loss is not finite (" + a.backend + "/" + math + ")");
  return finite;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse_args(argc, argv);
    const gnas::SpaceDesc sp = gnas::load_space_desc_file(a.desc);
    const std::vector<int> arch = gnas::load_arch_file(a.arch);
    bool ok = true;
    for (const auto& m : a.maths) ok = run_one(a, m, sp, arch, a.desc) && ok;
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gnas_net_bench: error: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "gnas_net_bench: error: unknown exception\n");
    return 1;
  }
}

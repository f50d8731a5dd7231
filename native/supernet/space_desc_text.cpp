// The text form of SpaceDesc (space_desc_text.h); the format is documented in docs/parameters.md,
// "Space description files". src/native/space-desc-text.ts writes the same text byte for byte
// (same records, same %.9g float formatting), so format(parse(text)) == text for its files.
#include "supernet/space_desc_text.h"

#include <cctype>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace gnas {

namespace {

const char kMagic[] = "gnas-space-desc";
const char kHeaderComment[] = "# greedynas space description (docs/parameters.md, \"Space description files\")";

[[noreturn]] void fail_at(int line, const std::string& msg) {
  throw std::invalid_argument("line " + std::to_string(line) + ": " + msg);
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::vector<std::string> split_blanks(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) i++;
    size_t j = i;
    while (j < s.size() && !is_blank(s[j])) j++;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string trim_blanks(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && is_blank(s[a])) a++;
  while (b > a && is_blank(s[b - 1])) b--;
  return s.substr(a, b - a);
}

// Control characters become spaces, then leading/trailing spaces go (the space name is the rest
// of its line, so it cannot hold a line break). The TypeScript writer does the same.
std::string one_line_name(const std::string& s) {
  std::string r = s;
  for (char& c : r)
    if ((unsigned char)c < 0x20 || c == 0x7f) c = ' ';
  size_t a = 0, b = r.size();
  while (a < b && r[a] == ' ') a++;
  while (b > a && r[b - 1] == ' ') b--;
  return r.substr(a, b - a);
}

int to_int(const std::string& tok, int line, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(tok.c_str(), &end, 10);
  if (tok.empty() || *end != '\0' || errno == ERANGE || v < -2147483647LL || v > 2147483647LL ||
      !(std::isdigit((unsigned char)tok[0]) || tok[0] == '-'))
    fail_at(line, what + ": expected an integer, got '" + tok + "'");
  return int(v);
}

float to_float(const std::string& tok, int line, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(tok.c_str(), &end);
  if (tok.empty() || *end != '\0' || !std::isfinite(v) || std::fabs(v) > double(FLT_MAX))
    fail_at(line, what + ": expected a finite float32 number, got '" + tok + "'");
  return float(v);
}

std::string fmt_float(float v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", double(v));
  return buf;
}

const char* act_text(Act a) {
  switch (a) {
    case Act::ReLU: return "relu";
    case Act::ReLU6: return "relu6";
    case Act::HSwish: return "hswish";
    case Act::None: break;
  }
  throw std::invalid_argument("space description: activation must be relu, relu6 or hswish");
}

const char* kind_text(OpKind k) {
  switch (k) {
    case OpKind::MBConv: return "mbconv";
    case OpKind::Skip: return "skip";
    case OpKind::Conv1x1: return "conv1x1";
  }
  throw std::invalid_argument("space description: unknown op kind " + std::to_string(int(k)));
}

void write_layer(std::ostringstream& o, const char* rec, const LayerDesc& l) {
  o << rec << ' ' << l.cin << ' ' << l.cout << ' ' << l.stride << ' ' << l.height << ' ' << l.width << ' '
    << l.out_height << ' ' << l.out_width << ' ' << l.ops.size() << '\n';
  for (const OpDesc& op : l.ops) {
    bool bad = op.name.empty();
    for (char c : op.name) bad = bad || (unsigned char)c <= 0x20 || c == 0x7f;
    if (bad) throw std::invalid_argument("space description: op name '" + op.name + "' must be one word (no blanks)");
    o << "op " << kind_text(op.kind) << ' ' << op.kernel << ' ' << op.expansion << ' ' << (op.se ? 1 : 0) << ' '
      << op.mid << ' ' << op.se_width << ' ' << op.name << '\n';
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw std::runtime_error("cannot read " + path);
  return ss.str();
}

// ---- a minimal JSON reader, for arch files such as bench/w1.path.json ----
struct Json {
  const std::string& s;
  size_t i = 0;
  [[noreturn]] void fail(const std::string& m) const {
    throw std::invalid_argument("arch: " + m + " at offset " + std::to_string(i));
  }
  void ws() {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  }
  bool eat(char c) {
    ws();
    if (i < s.size() && s[i] == c) {
      i++;
      return true;
    }
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail(std::string("expected '") + c + "'");
  }
  std::string string() {
    expect('"');
    std::string r;
    while (true) {
      if (i >= s.size()) fail("unterminated string");
      char c = s[i++];
      if (c == '"') return r;
      if (c == '\\') {
        if (i >= s.size()) fail("unterminated string");
        char e = s[i++];
        if (e == 'u') {
          if (i + 4 > s.size()) fail("bad \\u escape");
          i += 4;  // the value is not needed (only the key "arch" matters)
          r += '?';
        } else {
          r += e;
        }
      } else {
        r += c;
      }
    }
  }
  double number() {
    ws();
    const char* b = s.c_str() + i;
    char* end = nullptr;
    const double v = std::strtod(b, &end);
    if (end == b) fail("expected a value");
    i += size_t(end - b);
    return v;
  }
  // Skips any value; when `ints` is given and the value is an array, stores its integers.
  void value(std::vector<int>* ints, int depth) {
    if (depth > 64) fail("nesting too deep");
    ws();
    if (i >= s.size()) fail("unexpected end");
    const char c = s[i];
    if (c == '{') {
      i++;
      if (eat('}')) return;
      do {
        string();
        expect(':');
        value(nullptr, depth + 1);
      } while (eat(','));
      expect('}');
    } else if (c == '[') {
      i++;
      if (ints) ints->clear();
      if (eat(']')) return;
      do {
        ws();
        if (ints) {
          const double v = number();
          if (v != std::floor(v) || v < 0 || v > 1e9) fail("arch entries must be non-negative integers");
          ints->push_back(int(v));
        } else {
          value(nullptr, depth + 1);
        }
      } while (eat(','));
      expect(']');
    } else if (c == '"') {
      string();
    } else if (s.compare(i, 4, "true") == 0 || s.compare(i, 4, "null") == 0) {
      i += 4;
    } else if (s.compare(i, 5, "false") == 0) {
      i += 5;
    } else {
      number();
    }
  }
};

std::vector<int> arch_from_json(const std::string& text) {
  Json j{text};
  std::vector<int> arch;
  j.ws();
  if (j.i < text.size() && text[j.i] == '[') {
    j.value(&arch, 0);
  } else {
    bool found = false;
    j.expect('{');
    if (!j.eat('}')) {
      do {
        const std::string key = j.string();
        j.expect(':');
        if (key == "arch") {
          j.ws();
          if (j.i >= text.size() || text[j.i] != '[') j.fail("\"arch\" must be an array of integers");
          j.value(&arch, 0);
          found = true;
        } else {
          j.value(nullptr, 1);
        }
      } while (j.eat(','));
      j.expect('}');
    }
    if (!found) throw std::invalid_argument("arch: the JSON object has no \"arch\" array");
  }
  j.ws();
  if (j.i != text.size()) j.fail("trailing characters after the JSON value");
  return arch;
}

}  // namespace

SpaceDesc parse_space_desc_text(const std::string& text) {
  SpaceDesc sp;
  // line of each single record once seen (0 = not yet)
  int l_magic = 0, l_name = 0, l_input = 0, l_act = 0, l_bn = 0, l_mean = 0, l_std = 0, l_stem = 0, l_head = 0;
  LayerDesc* open = nullptr;  // the fixed block / layer whose op lines are being read
  int open_line = 0, open_ops = 0;
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    line_no++;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const std::string t = trim_blanks(line);
    if (t.empty() || t[0] == '#') continue;
    const std::vector<std::string> tok = split_blanks(t);
    const std::string& rec = tok[0];
    const int nvals = int(tok.size()) - 1;
    auto need = [&](int n, const char* fields) {
      if (nvals != n)
        fail_at(line_no, "'" + rec + "' needs " + std::to_string(n) + " value" + (n == 1 ? "" : "s") + " (" + fields +
                             "), got " + std::to_string(nvals));
    };
    auto once = [&](int& seen) {
      if (seen) fail_at(line_no, "a second '" + rec + "' record (the first is on line " + std::to_string(seen) + ")");
      seen = line_no;
    };
    if (!l_magic) {
      if (rec != kMagic) fail_at(line_no, std::string("expected '") + kMagic + " 1' as the first record, got '" + rec + "'");
      if (nvals != 1 || tok[1] != "1")
        fail_at(line_no, "unsupported space description version '" + (nvals >= 1 ? tok[1] : std::string()) +
                             "' (this build reads version 1)");
      l_magic = line_no;
      continue;
    }
    if (open && open_ops < int(open->ops.size()) && rec != "op")
      fail_at(line_no, "expected 'op' (the block on line " + std::to_string(open_line) + " declares " +
                           std::to_string(open->ops.size()) + " ops, " + std::to_string(open_ops) + " given so far)");
    if (rec == "op") {
      if (!open || open_ops >= int(open->ops.size()))
        fail_at(line_no, "'op' outside a block (or more ops than its 'fixed'/'layer' record declares)");
      need(7, "kind kernel expansion se mid seWidth name");
      OpDesc& op = open->ops[size_t(open_ops)];
      if (tok[1] == "mbconv") op.kind = OpKind::MBConv;
      else if (tok[1] == "skip") op.kind = OpKind::Skip;
      else if (tok[1] == "conv1x1") op.kind = OpKind::Conv1x1;
      else fail_at(line_no, "op kind must be mbconv, skip or conv1x1, got '" + tok[1] + "'");
      op.kernel = to_int(tok[2], line_no, "op kernel");
      op.expansion = to_int(tok[3], line_no, "op expansion");
      const int se = to_int(tok[4], line_no, "op se");
      if (se != 0 && se != 1) fail_at(line_no, "op se must be 0 or 1, got " + tok[4]);
      op.se = se == 1;
      op.mid = to_int(tok[5], line_no, "op mid");
      op.se_width = to_int(tok[6], line_no, "op seWidth");
      op.name = tok[7];
      open_ops++;
    } else if (rec == "name") {
      once(l_name);
      sp.name = trim_blanks(t.substr(rec.size()));
      if (sp.name.empty()) fail_at(line_no, "'name' needs a name");
    } else if (rec == "input") {
      once(l_input);
      need(4, "height width channels classes");
      sp.height = to_int(tok[1], line_no, "input height");
      sp.width = to_int(tok[2], line_no, "input width");
      sp.channels = to_int(tok[3], line_no, "input channels");
      sp.classes = to_int(tok[4], line_no, "input classes");
    } else if (rec == "activation") {
      once(l_act);
      need(1, "relu, relu6 or hswish");
      if (tok[1] == "relu") sp.act = Act::ReLU;
      else if (tok[1] == "relu6") sp.act = Act::ReLU6;
      else if (tok[1] == "hswish") sp.act = Act::HSwish;
      else fail_at(line_no, "activation must be relu, relu6 or hswish, got '" + tok[1] + "'");
    } else if (rec == "bn") {
      once(l_bn);
      need(2, "eps momentum");
      sp.bn_eps = to_float(tok[1], line_no, "bn eps");
      sp.bn_momentum = to_float(tok[2], line_no, "bn momentum");
    } else if (rec == "mean" || rec == "std") {
      once(rec == "mean" ? l_mean : l_std);
      if (nvals < 1) fail_at(line_no, "'" + rec + "' needs one value per input channel");
      std::vector<float>& v = rec == "mean" ? sp.mean : sp.std;
      for (int i = 1; i <= nvals; i++) v.push_back(to_float(tok[size_t(i)], line_no, rec));
    } else if (rec == "stem") {
      once(l_stem);
      need(8, "cin cout kernel stride height width outHeight outWidth");
      StemDesc& s = sp.stem;
      s.cin = to_int(tok[1], line_no, "stem cin");
      s.cout = to_int(tok[2], line_no, "stem cout");
      s.kernel = to_int(tok[3], line_no, "stem kernel");
      s.stride = to_int(tok[4], line_no, "stem stride");
      s.height = to_int(tok[5], line_no, "stem height");
      s.width = to_int(tok[6], line_no, "stem width");
      s.out_height = to_int(tok[7], line_no, "stem outHeight");
      s.out_width = to_int(tok[8], line_no, "stem outWidth");
    } else if (rec == "fixed" || rec == "layer") {
      need(8, "cin cout stride height width outHeight outWidth nops");
      if (rec == "fixed" && !sp.layers.empty())
        fail_at(line_no, "a 'fixed' block after the searchable layers (fixed blocks come first)");
      LayerDesc l;
      l.cin = to_int(tok[1], line_no, rec + " cin");
      l.cout = to_int(tok[2], line_no, rec + " cout");
      l.stride = to_int(tok[3], line_no, rec + " stride");
      l.height = to_int(tok[4], line_no, rec + " height");
      l.width = to_int(tok[5], line_no, rec + " width");
      l.out_height = to_int(tok[6], line_no, rec + " outHeight");
      l.out_width = to_int(tok[7], line_no, rec + " outWidth");
      const int nops = to_int(tok[8], line_no, rec + " nops");
      if (nops < 1 || nops > 4096) fail_at(line_no, rec + " nops must be in [1, 4096], got " + tok[8]);
      l.ops.resize(size_t(nops));
      std::vector<LayerDesc>& dst = rec == "fixed" ? sp.fixed : sp.layers;
      dst.push_back(std::move(l));
      open = &dst.back();
      open_line = line_no;
      open_ops = 0;
    } else if (rec == "head") {
      once(l_head);
      need(4, "cin cout height width");
      sp.head_cin = to_int(tok[1], line_no, "head cin");
      sp.head_cout = to_int(tok[2], line_no, "head cout");
      sp.head_height = to_int(tok[3], line_no, "head height");
      sp.head_width = to_int(tok[4], line_no, "head width");
    } else {
      fail_at(line_no, "unknown record '" + rec + "'");
    }
  }
  const std::string at_end = "end of input (after line " + std::to_string(line_no) + ")";
  if (!l_magic) throw std::invalid_argument(at_end + ": empty space description (no 'gnas-space-desc 1' record)");
  if (open && open_ops < int(open->ops.size()))
    throw std::invalid_argument(at_end + ": the block on line " + std::to_string(open_line) + " declares " +
                                std::to_string(open->ops.size()) + " ops, " + std::to_string(open_ops) + " given");
  const std::pair<int, const char*> required[] = {{l_name, "name"}, {l_input, "input"}, {l_act, "activation"},
                                                  {l_bn, "bn"},     {l_mean, "mean"},   {l_std, "std"},
                                                  {l_stem, "stem"}, {l_head, "head"}};
  for (const auto& r : required)
    if (!r.first) throw std::invalid_argument(at_end + ": missing '" + r.second + "' record");
  if (sp.layers.empty()) throw std::invalid_argument(at_end + ": no 'layer' record (the space has no searchable layers)");
  if (int(sp.mean.size()) != sp.channels)
    fail_at(l_mean, "'mean' has " + std::to_string(sp.mean.size()) + " values, the input has " +
                        std::to_string(sp.channels) + " channels");
  if (int(sp.std.size()) != sp.channels)
    fail_at(l_std, "'std' has " + std::to_string(sp.std.size()) + " values, the input has " +
                       std::to_string(sp.channels) + " channels");
  // The pieces must fit together as the supernet needs them (SpaceDesc::validate, no line: a
  // size mismatch involves several records).
  try {
    sp.validate();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("inconsistent space description: ") + e.what());
  }
  return sp;
}

std::string format_space_desc_text(const SpaceDesc& sp) {
  const std::string name = one_line_name(sp.name);
  if (name.empty()) throw std::invalid_argument("space description: the space needs a name");
  if (sp.mean.empty() || sp.std.empty()) throw std::invalid_argument("space description: mean and std are empty");
  std::ostringstream o;
  o << kHeaderComment << '\n';
  o << kMagic << " 1\n";
  o << "name " << name << '\n';
  o << "input " << sp.height << ' ' << sp.width << ' ' << sp.channels << ' ' << sp.classes << '\n';
  o << "activation " << act_text(sp.act) << '\n';
  o << "bn " << fmt_float(sp.bn_eps) << ' ' << fmt_float(sp.bn_momentum) << '\n';
  o << "mean";
  for (float v : sp.mean) o << ' ' << fmt_float(v);
  o << "\nstd";
  for (float v : sp.std) o << ' ' << fmt_float(v);
  o << '\n';
  const StemDesc& s = sp.stem;
  o << "stem " << s.cin << ' ' << s.cout << ' ' << s.kernel << ' ' << s.stride << ' ' << s.height << ' ' << s.width
    << ' ' << s.out_height << ' ' << s.out_width << '\n';
  for (const LayerDesc& l : sp.fixed) write_layer(o, "fixed", l);
  for (const LayerDesc& l : sp.layers) write_layer(o, "layer", l);
  o << "head " << sp.head_cin << ' ' << sp.head_cout << ' ' << sp.head_height << ' ' << sp.head_width << '\n';
  return o.str();
}

SpaceDesc load_space_desc_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return parse_space_desc_text(text);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

std::vector<int> parse_arch_text(const std::string& text) {
  size_t first = 0;
  while (first < text.size() && std::isspace((unsigned char)text[first])) first++;
  std::vector<int> arch;
  if (first < text.size() && (text[first] == '{' || text[first] == '[')) {
    arch = arch_from_json(text);
  } else {
    // whitespace/comma separated integers; lines whose first non-blank character is '#' are comments
    std::istringstream in(text);
    std::string line;
    int line_no = 0;
    while (std::getline(in, line)) {
      line_no++;
      const std::string t = trim_blanks(line);
      if (t.empty() || t[0] == '#') continue;
      std::string cur;
      auto flush = [&]() {
        if (cur.empty()) return;
        const int v = to_int(cur, line_no, "arch");
        if (v < 0) fail_at(line_no, "arch: choices must be non-negative, got " + cur);
        arch.push_back(v);
        cur.clear();
      };
      for (char c : t) {
        if (c == ',' || std::isspace((unsigned char)c)) flush();
        else cur += c;
      }
      flush();
    }
  }
  if (arch.empty()) throw std::invalid_argument("arch: no choices given");
  return arch;
}

std::vector<int> load_arch_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return parse_arch_text(text);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(path + ": " + e.what());
  }
}

}  // namespace gnas

// The space description text checks of gnas_supernet_tests (no backend involved): format/parse
// round trip, error line numbers, arch parsing.
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "supernet/space_desc_text.h"

#include "tests/supernet/supernet_checks.h"

namespace gnas {
namespace test {
namespace {
void expect_error(Harness& h, const std::string& what, const std::function<void()>& f, const std::string& prefix) {
  std::string msg = "(no error)";
  bool ok = false;
  try {
    f();
  } catch (const std::invalid_argument& e) {
    msg = e.what();
    ok = msg.compare(0, prefix.size(), prefix) == 0;
  } catch (const std::exception& e) {
    msg = std::string("wrong exception type: ") + e.what();
  }
  if (!ok) std::printf("     expected an error starting '%s', got: %s\n", prefix.c_str(), msg.c_str());
  h.check("space_desc_text", what, ok ? 0 : 1, 0);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t p = 0;
  while (p < text.size()) {
    size_t nl = text.find('\n', p);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(p, nl - p));
    p = nl + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

}  // namespace

// file_text: the --desc file's contents (empty for the built-in space). A file written by
// src/native/space-desc-text.ts must be exactly what format_space_desc_text writes.
void desc_text_checks(Harness& h, const SpaceDesc& space, const std::string& file_text) {
  const std::string T = "space_desc_text";
  const std::string text = format_space_desc_text(space);
  const SpaceDesc back = parse_space_desc_text(text);
  h.check(T, "round trip", format_space_desc_text(back) == text ? 0 : 1, 0);
  if (!file_text.empty()) {
    const std::string header = lines_of(text)[0] + "\n";  // the writers' comment line
    if (file_text.compare(0, header.size(), header) == 0) h.check(T, "file == C++ writer", file_text == text ? 0 : 1, 0);
    return;
  }
  // errors name the line (1-based, comments and blank lines counted)
  const std::vector<std::string> L = lines_of(text);
  auto find_line = [&](const std::string& rec) {
    for (size_t i = 0; i < L.size(); i++)
      if (L[i].compare(0, rec.size() + 1, rec + " ") == 0) return i;
    throw std::logic_error("no " + rec + " line");
  };
  auto with = [&](size_t i, const std::string& repl) {
    std::vector<std::string> c = L;
    c[i] = repl;
    return join_lines(c);
  };
  auto line = [](size_t i) { return "line " + std::to_string(i + 1) + ":"; };
  const size_t magic = find_line("gnas-space-desc"), stem = find_line("stem"), input = find_line("input");
  const size_t first_layer = find_line("layer");
  expect_error(h, "error: version", [&] { parse_space_desc_text(with(magic, "gnas-space-desc 2")); }, line(magic));
  expect_error(h, "error: value count", [&] { parse_space_desc_text(with(stem, "stem 3 8 3 1 15 13 15")); }, line(stem));
  expect_error(h, "error: bad integer", [&] { parse_space_desc_text(with(input, "input 15 x 3 10")); }, line(input));
  expect_error(h, "error: unknown record", [&] { parse_space_desc_text(with(input, "inptu 15 13 3 10")); }, line(input));
  {
    std::vector<std::string> c = L;
    c.erase(c.begin() + long(first_layer) + 1);  // one op fewer than declared: the next record is the error
    expect_error(h, "error: missing op", [&] { parse_space_desc_text(join_lines(c)); }, line(first_layer + 7));
  }
  {
    std::vector<std::string> c = L;
    c.pop_back();  // head
    expect_error(h, "error: missing head", [&] { parse_space_desc_text(join_lines(c)); }, "end of input");
  }
  expect_error(h, "error: inconsistent sizes", [&] { parse_space_desc_text(with(stem, "stem 3 9 3 1 15 13 15 13")); },
               "inconsistent space description");
  // archs: plain text, JSON array, JSON object with other members
  h.check(T, "arch text", parse_arch_text("# c\n0 1,2\n 3\n") == std::vector<int>{0, 1, 2, 3} ? 0 : 1, 0);
  h.check(T, "arch json array", parse_arch_text(" [3, 4]\n") == std::vector<int>{3, 4} ? 0 : 1, 0);
  h.check(T, "arch json object",
          parse_arch_text("{\"comment\": \"not \\\"arch\\\": [9]\", \"x\": {\"arch\": [7]}, \"arch\": [1, 2]}") ==
                  std::vector<int>{1, 2}
              ? 0
              : 1,
          0);
  expect_error(h, "error: arch text", [&] { parse_arch_text("0 1 x"); }, "line 1:");
  expect_error(h, "error: empty arch", [&] { parse_arch_text("# nothing\n"); }, "arch:");
}

}  // namespace test
}  // namespace gnas

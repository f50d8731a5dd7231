// A plain-text form of SpaceDesc, so C++ programs without Node (the GPU check, the GPU benchmark,
// the C++ supernet tests) can build the same supernet the TypeScript side resolves. Written by
// src/native/space-desc-text.ts (run by scripts/make-space-descs.mjs), read here.
// The format is documented in docs/parameters.md ("Space description files").
#pragma once
#include <string>
#include <vector>

#include "supernet/space_desc.h"

namespace gnas {

// Throws std::invalid_argument naming the line and the problem.
SpaceDesc parse_space_desc_text(const std::string& text);
std::string format_space_desc_text(const SpaceDesc& space);
SpaceDesc load_space_desc_file(const std::string& path);
// An arch as whitespace/comma separated integers, or a JSON object/array holding "arch": [...].
std::vector<int> parse_arch_text(const std::string& text);
std::vector<int> load_arch_file(const std::string& path);

}  // namespace gnas

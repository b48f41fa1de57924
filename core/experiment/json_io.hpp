// The one place where run folders and settings meet JSON: reading a JSON
// file with an error that names it, writing one atomically, the rule for
// numbers JSON cannot hold, and the fingerprint that identifies an input
// file by its content.
//
// Non-finite numbers, one rule everywhere:
//   - settings (configurations, stage keys): +inf, -inf and NaN are written
//     as the strings "inf", "-inf" and "nan" (an interval 0:inf is [0, "inf"]);
//   - results (metrics, rows): a value that could not be computed is null.
// Readers accept both spellings, so older run folders still read.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sims::experiment {

using json = nlohmann::json;

// Throws InputError "cannot read 'PATH'" / "'PATH' is not valid JSON: ...".
json read_json_file(const std::string& path);
// Like read_json_file, but a missing or unreadable file gives null.
json read_json_or_null(const std::string& path);
// Pretty-printed, atomically (a crash leaves the old file or none).
void write_json_file(const std::string& path, const json& j);
void write_text_file(const std::string& path, const std::string& text);

// Settings: finite -> number, otherwise "inf" / "-inf" / "nan".
json setting_number(double v);
// Reads a number written by setting_number or result_number (null -> NaN);
// throws InputError naming `what` for anything else.
double read_number(const json& j, const std::string& what);
// A list of such numbers (a stored statistic's bootstrap replicates); throws
// InputError "WHAT is not a list of numbers" for anything else or a list of
// more than `max_count` entries, and read_number's error for a bad entry.
std::vector<double> read_numbers(const json& j, const std::string& what, size_t max_count = 100000);

// Results: finite -> number, otherwise null.
json result_number(double v);

// Bytes and CRC-32 of a file's content: its identity in a stage key (a model
// replaced under the same name is a different input). Throws InputError when
// the file cannot be read.
json file_fingerprint(const std::string& path);

}  // namespace sims::experiment

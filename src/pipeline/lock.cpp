// `tdximg lock`: resolve every input to exact versions and digests, write RECIPE.lock.json.
#include <tdximg/pipeline/build.hpp>

#include <spdlog/spdlog.h>

#include <tdximg/pipeline/steps.hpp>
#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/store/lock.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

namespace tdximg::pipeline {

nlohmann::json lock(const LockOptions& o) {
  const recipe::Recipe r = recipe::load_recipe(o.recipe);
  const fs::path lock_path = recipe::lock_path_for(r);
  std::optional<recipe::LockFile> previous;
  std::string previous_text;
  if (fs::exists(lock_path)) {
    previous = recipe::read_lock(lock_path);
    previous_text = read_text_file(lock_path);
  }
  store::Store st = open_store(o.common.cache_dir);
  store::LockOptions lo;
  lo.offline = o.common.offline ? store::Offline::yes : store::Offline::no;
  lo.update = o.update ? store::Update::yes : store::Update::no;
  if (o.common.progress) o.common.progress("resolving inputs");
  store::LockResult res = store::lock_inputs_detailed(r, st, previous ? &*previous : nullptr, lo);
  const std::string text = recipe::write_lock_json(res.lock);
  const bool current = text == previous_text;

  nlohmann::json report;
  report["lock_file"] = lock_path.string();
  report["current"] = current;
  nlohmann::json inputs = nlohmann::json::object();
  for (const auto& n : res.notes) {
    nlohmann::json j = {{"requested", n.requested}, {"resolved", n.resolved}, {"from_previous", n.from_previous}};
    if (n.deb) {
      j["maintainer_scripts_skipped"] = n.deb->maintainer_scripts;
      if (!n.deb->maintainer_scripts.empty()) {
        spdlog::info("input {}: {} has maintainer scripts that tdximg never runs: {}", n.input,
                     n.resolved, fmt::join(n.deb->maintainer_scripts, ", "));
      }
    }
    const auto& e = res.lock.entries.at(n.input);
    j["sha256"] = e.sha256;
    j["size"] = e.size;
    inputs[n.input] = j;
  }
  report["inputs"] = inputs;
  if (o.check) {
    report["written"] = false;
    return report;
  }
  if (!current) write_file_atomic(lock_path, text);
  report["written"] = !current;
  return report;
}

} // namespace tdximg::pipeline

// `tdximg store export RECIPE -o FILE` and `tdximg store import FILE`.
#include <cstdio>

#include <tdximg/pipeline/steps.hpp>
#include <tdximg/recipe/lockfile.hpp>
#include <tdximg/recipe/parser.hpp>
#include <tdximg/store/archive.hpp>
#include <tdximg/util/error.hpp>
#include <tdximg/util/file.hpp>

#include "app.hpp"

namespace tdximg::cli {

Runner add_store(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("store", "Carry every input of a build as one archive");
  cmd->require_subcommand(1);
  auto* exp = cmd->add_subcommand("export", "Write every pinned input of RECIPE (from the store) into FILE");
  auto* imp = cmd->add_subcommand("import", "Verify and add every input in FILE to the store");
  struct Opts {
    std::string recipe, out, in;
  };
  auto o = std::make_shared<Opts>();
  exp->add_option("recipe", o->recipe, "Recipe file or directory")->required();
  exp->add_option("-o,--out", o->out, "Archive to write")->required();
  imp->add_option("file", o->in, "Archive written by `store export`")->required();
  return [&g, o, exp] {
    store::Store st = pipeline::open_store(g.common().cache_dir);
    nlohmann::json report;
    if (*exp) {
      const recipe::Recipe r = recipe::load_recipe(o->recipe);
      const auto lock_path = recipe::lock_path_for(r);
      if (!std::filesystem::exists(lock_path)) {
        fail(ErrorKind::input, "{}: no lock file; run `tdximg lock {}` first", lock_path.string(), o->recipe);
      }
      const std::string lock_text = read_text_file(lock_path);
      const recipe::LockFile lock = recipe::parse_lock(lock_text, lock_path.string());
      store::export_archive(st, lock, lock_text, o->out);
      report = {{"archive", o->out}, {"inputs", lock.entries.size()}};
    } else {
      const store::ImportResult res = store::import_archive(st, o->in);
      report = {{"archive", o->in}, {"imported", res.imported}, {"has_lock", !res.lock_json.empty()}};
    }
    emit(g, report, [](const nlohmann::json& r) { std::printf("%s\n", r.dump(2).c_str()); });
    return 0;
  };
}

} // namespace tdximg::cli

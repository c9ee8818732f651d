#include "recipe_test_util.hpp"

#include <tdximg/recipe/parser.hpp>

using namespace tdximg;
using namespace tdximg::recipe;
using namespace recipe_test;

namespace {
template <typename T> const T& op_at(const Recipe& r, std::size_t layer, std::size_t index) {
  REQUIRE(layer < r.layers.size());
  REQUIRE(index < r.layers[layer].ops.size());
  REQUIRE(std::holds_alternative<T>(r.layers[layer].ops[index]));
  return std::get<T>(r.layers[layer].ops[index]);
}
} // namespace

TEST_CASE("a recipe with every field and op kind is read into the model", "[recipe]") {
  const fs::path dir = data_dir() / "full";
  const Recipe r = load_recipe(dir / "recipe.json");
  CHECK(r.name == "full");
  CHECK(r.file == fs::absolute(dir / "recipe.json").lexically_normal());
  REQUIRE(r.source_date_epoch);
  CHECK(*r.source_date_epoch == 0);

  REQUIRE(r.inputs.size() == 5);
  const Input& kernel = r.inputs.at("kernel");
  CHECK(kernel.kind == InputKind::deb);
  CHECK(kernel.deb.package == "linux-image-amd64");
  CHECK(kernel.deb.suite == "bookworm-backports");
  CHECK(kernel.deb.version == "6.12.12-1~bpo12+1");
  CHECK(kernel.sha256.empty());
  const Input& stub = r.inputs.at("stub");
  CHECK(stub.sha256 == "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
  REQUIRE(stub.size);
  CHECK(*stub.size == 12345);
  CHECK(r.inputs.at("tarball").kind == InputKind::url);
  CHECK(r.inputs.at("tarball").url == "https://example.invalid/app.tar.zst");
  CHECK(r.inputs.at("init").kind == InputKind::path);
  CHECK(r.inputs.at("init").path == fs::absolute(dir / "files" / "init").lexically_normal());

  REQUIRE(r.layers.size() == 1);
  const auto& ex = op_at<ExtractOp>(r, 0, 0);
  CHECK(ex.input == "tarball");
  CHECK(ex.include == std::vector<std::string>{"usr/bin/*"});
  CHECK(ex.exclude == std::vector<std::string>{"usr/bin/x"});
  CHECK(ex.strip_prefix == "usr");
  CHECK(ex.to == "/opt/app");
  CHECK(ex.allow_devices);
  CHECK(ex.allow_setuid);
  const auto& init = op_at<FileOp>(r, 0, 1);
  CHECK(init.path == "/sbin/init");
  CHECK(init.from == std::optional<std::string>("init"));
  CHECK(init.mode == 0700);
  CHECK(init.owner.uid == 1);
  CHECK(init.owner.gid == 2);
  CHECK(op_at<FileOp>(r, 0, 2).member == std::optional<std::string>("boot/config-*"));
  const auto& text = op_at<FileOp>(r, 0, 3);
  CHECK(text.text == std::optional<std::string>("tdx\n"));
  CHECK(text.mode == 0644);
  CHECK(op_at<DirOp>(r, 0, 4).paths == std::vector<std::string>{"/tmp"});
  CHECK(op_at<DirOp>(r, 0, 4).mode == 01777);
  CHECK(op_at<DirOp>(r, 0, 5).paths == std::vector<std::string>{"/a", "/b"});
  CHECK(op_at<DirOp>(r, 0, 5).owner.uid == 5);
  // Symlink targets are data: kept verbatim, ".." and all.
  CHECK(op_at<SymlinkOp>(r, 0, 6).target == "/usr/bin/../bin/busybox");
  CHECK(op_at<HardlinkOp>(r, 0, 7).target == "/bin/busybox");
  const auto& console = op_at<DeviceOp>(r, 0, 8);
  CHECK(console.type == DeviceType::character);
  CHECK(console.major == 5);
  CHECK(console.minor == 1);
  CHECK(console.mode == 0600);
  const auto& vda = op_at<DeviceOp>(r, 0, 9);
  CHECK(vda.type == DeviceType::block);
  CHECK(vda.mode == 0660);
  CHECK(vda.owner.gid == 6);
  CHECK(op_at<FifoOp>(r, 0, 10).mode == 0600);
  CHECK(op_at<RemoveOp>(r, 0, 11).paths ==
        std::vector<std::string>{"/usr/share/doc/*", "/usr/share/man"});
  CHECK(op_at<RemoveOp>(r, 0, 12).paths == std::vector<std::string>{"/etc/motd"});
  CHECK(op_at<ChmodOp>(r, 0, 13).mode == 04755);
  CHECK(op_at<ChownOp>(r, 0, 14).owner.uid == 1000);
  CHECK(op_at<ModulesOp>(r, 0, 15).names == std::vector<std::string>{"virtio_net", "tdx-guest"});

  REQUIRE(r.kernel);
  CHECK(r.kernel->from == "kernel");
  CHECK(r.kernel->path.empty());
  REQUIRE(r.stub);
  CHECK(r.stub->path == "usr/lib/systemd/boot/efi/linuxx64.efi.stub");
  CHECK(r.cmdline == "console=ttyS0 quiet");
  CHECK(r.os_release.empty());
  REQUIRE(r.os_release_file);
  CHECK(r.initramfs.compression == Compression::xz);
  CHECK(r.initramfs.level == 6); // xz's own default
  REQUIRE(r.uki.splash);
  REQUIRE(r.uki.dtb);
  CHECK(r.uki.dtb->from == "init");
  CHECK(r.outputs == std::vector<std::string>{"uki", "raw"});
  CHECK(r.measure.platforms == std::vector<std::string>{"tdx", "azure"});
  CHECK(r.measure.secure_boot == std::vector<bool>{true});
  REQUIRE(r.measure.firmware);
  CHECK(r.measure.firmware->path == "usr/share/ovmf/OVMF.fd");
  REQUIRE(r.measure.vms.size() == 3);
  CHECK(r.measure.vms[0].name == "2cpu-2G");
  CHECK(r.measure.vms[0].memory_bytes == 2ULL << 30);
  CHECK(r.measure.vms[1].name == "big");
  CHECK(r.measure.vms[1].memory_bytes == 16ULL << 30);
  CHECK(r.measure.vms[1].cpus == 16);
  CHECK(r.measure.vms[2].name == "1cpu-1536M");
  CHECK(r.measure.vms[2].memory_bytes == 1536ULL << 20);
  REQUIRE(r.measure.rtmr0_calibration);
  CHECK(*r.measure.rtmr0_calibration ==
        fs::absolute(dir / "calib" / "ccel.bin").lexically_normal());
}

TEST_CASE("defaults apply when a recipe leaves fields out", "[recipe]") {
  TempDir dir;
  const Recipe r = load_recipe(put(dir.path(), "r.json", R"({"schema": 1, "name": "min"})"));
  CHECK(r.inputs.empty());
  CHECK(r.layers.empty());
  CHECK(!r.source_date_epoch);
  CHECK(r.initramfs.compression == Compression::zstd);
  CHECK(r.initramfs.level == 19);
  CHECK(r.outputs == std::vector<std::string>{"initramfs"});
  CHECK(r.measure.platforms == std::vector<std::string>{"qemu"});
  CHECK(r.measure.secure_boot == std::vector<bool>{false});
  CHECK(r.measure.vmm == "qemu");
  CHECK(r.chain.size() == 1);
}

TEST_CASE("a directory argument means its recipe.json", "[recipe]") {
  const Recipe r = load_recipe(data_dir() / "full");
  CHECK(r.file.filename() == "recipe.json");
  TempDir empty;
  const std::string m = error_of([&] { load_recipe(empty.path()); });
  check_contains(m, {empty.path().string(), "recipe.json"});
}

TEST_CASE("image paths are normalized", "[recipe]") {
  TempDir dir;
  const Recipe r = load_recipe(put(dir.path(), "r.json", R"({"schema": 1, "name": "n", "layers": [
    {"name": "l", "ops": [{"dir": ["//a/./b/", "/c//", "/./d/."]},
                          {"extract": "x", "to": "//", "include": ["./x/./y/"]},
                          {"chmod": "/e/*/", "mode": "0755"}]}],
    "inputs": {"x": {"url": "https://example.invalid/x.tar"}}})"));
  CHECK(std::get<DirOp>(r.layers[0].ops[0]).paths == std::vector<std::string>{"/a/b", "/c", "/d"});
  CHECK(std::get<ExtractOp>(r.layers[0].ops[1]).to == "/");
  CHECK(std::get<ExtractOp>(r.layers[0].ops[1]).include == std::vector<std::string>{"x/y"});
  CHECK(std::get<ChmodOp>(r.layers[0].ops[2]).paths == std::vector<std::string>{"/e/*"});
}

TEST_CASE("comments are allowed and syntax errors name file, line and column", "[recipe]") {
  TempDir dir;
  // Positions below are what Python's json module reports for the same text (PROVENANCE.md).
  const auto f1 = put(dir.path(), "a.json", "{\n  \"schema\": 1,\n  \"name\": x\n}");
  check_contains(error_of([&] { load_recipe(f1); }), {"a.json:3:11: "});
  const auto f2 = put(dir.path(), "b.json", "{\n  \"schema\": 1,\n  \"name\": \"a\",\n}");
  check_contains(error_of([&] { load_recipe(f2); }), {"b.json:4:1: "});
  const auto f3 = put(dir.path(), "c.json", "{\n \"a\": [1, 2,\n   3 4]\n}");
  check_contains(error_of([&] { load_recipe(f3); }), {"c.json:3:6: "});
  // Both comment styles are accepted.
  const auto ok = put(dir.path(), "d.json",
                      "// top\n{ /* block */ \"schema\": 1, // line\n \"name\": \"d\" }\n");
  CHECK(load_recipe(ok).name == "d");
}

TEST_CASE("an unknown key is named by its JSON path with the allowed keys", "[recipe]") {
  const std::string m = recipe_error(R"(, "layers": [{"name": "a", "ops": []},
      {"name": "b", "ops": [{"file": "/x", "text": "", "mdoe": "0644"}]}])");
  check_contains(m,
                 {"r.json: /layers/1/ops/0/mdoe: unknown key (expected one of: file, from, member, "
                  "text, mode, uid, gid)"});
  check_contains(recipe_error(R"(, "colour": "blue")"), {"r.json: /colour: unknown key"});
  check_contains(recipe_error(R"(, "measure": {"vms": [{"memory": "1G", "cpus": 1, "gpu": 1}]})"),
                 {"/measure/vms/0/gpu: unknown key"});
}

TEST_CASE("a duplicate key is an error naming its path", "[recipe]") {
  check_contains(recipe_error(R"(, "layers": [{"name": "a", "ops": [{"dir": "/x", "mode": "0700",
      "mode": "0755"}]}])"),
                 {"r.json: /layers/0/ops/0/mode: duplicate key"});
}

TEST_CASE("a wrong type names the path, the expected and the actual type", "[recipe]") {
  check_contains(recipe_error(R"(, "cmdline": 5)"), {"/cmdline: expected string, got integer 5"});
  check_contains(recipe_error(R"(, "layers": {})"), {"/layers: expected array, got object"});
  check_contains(recipe_error(R"(, "source_date_epoch": "1700000000")"),
                 {"/source_date_epoch: expected integer, got string \"1700000000\""});
  check_contains(recipe_error(R"(, "source_date_epoch": 1.5)"),
                 {"/source_date_epoch: expected integer, got number 1.5"});
  check_contains(recipe_error(R"(, "layers": [{"name": "l", "ops": [{"extract": "i",
      "allow_devices": "yes"}]}], "inputs": {"i": {"url": "https://x.invalid/a"}})"),
                 {"/layers/0/ops/0/allow_devices: expected boolean, got string \"yes\""});
  check_contains(
      recipe_error(R"(, "measure": {"secure_boot": "on"})"),
      {"/measure/secure_boot: expected boolean or non-empty array of booleans, got string"});
}

TEST_CASE("bad values name the path, the expectation and the value", "[recipe]") {
  const auto op = [](const std::string& o) {
    return recipe_error(
        R"(, "inputs": {"i": {"url": "https://x.invalid/a"}}, "layers": [{"name": "l",
        "ops": [)" +
        o + "]}]");
  };
  check_contains(
      op(R"({"file": "/x", "text": "", "mode": "0999"})"),
      {"/layers/0/ops/0/mode: expected an octal mode string such as \"0755\", got \"0999\""});
  check_contains(op(R"({"file": "/x", "text": "", "mode": 755})"),
                 {"/layers/0/ops/0/mode: expected an octal mode string", "got integer 755"});
  check_contains(op(R"({"file": "/x", "text": "", "mode": "07755"})"), {"got \"07755\""});
  check_contains(op(R"({"chardev": "/dev/x", "major": -1, "minor": 0})"),
                 {"/layers/0/ops/0/major: expected a non-negative integer, got -1"});
  check_contains(op(R"({"chardev": "/dev/x", "major": 4096, "minor": 0})"),
                 {"/layers/0/ops/0/major: expected an integer in 0..4095, got 4096"});
  check_contains(op(R"({"blockdev": "/dev/x", "major": 1, "minor": 1048576})"),
                 {"/layers/0/ops/0/minor: expected an integer in 0..1048575, got 1048576"});
  check_contains(op(R"({"file": "/x", "text": "", "uid": 4294967295})"),
                 {"/layers/0/ops/0/uid: expected an integer in 0..4294967294"});
  check_contains(op(R"({"file": "/a/../etc/shadow", "text": ""})"),
                 {"/layers/0/ops/0/file: expected a path without \"..\" components, got "
                  "\"/a/../etc/shadow\""});
  check_contains(op(R"({"dir": ["/ok", "relative/dir"]})"),
                 {"/layers/0/ops/0/dir/1: expected an absolute image path (starting with '/'), got "
                  "\"relative/dir\""});
  check_contains(op(R"({"file": "/", "text": ""})"),
                 {"/layers/0/ops/0/file: expected a path below '/'"});
  check_contains(op(R"({"extract": "i", "include": ["../x"]})"),
                 {"/layers/0/ops/0/include/0: expected a path without \"..\""});
  check_contains(op(R"({"symlink": "/x", "target": ""})"),
                 {"/layers/0/ops/0/target: expected a non-empty string"});
  check_contains(op(R"({"chown": "/x", "uid": 1})"),
                 {"/layers/0/ops/0: missing required key \"gid\""});

  check_contains(recipe_error(R"(, "inputs": {"a": {"path": "x", "sha256": "abc"}})"),
                 {"/inputs/a/sha256: expected 64 hex digits (sha256), got string \"abc\""});
  check_contains(recipe_error(R"(, "inputs": {"a": {"path": "x", "sha256": ")" +
                              std::string(63, 'a') + "g\"}}"),
                 {"/inputs/a/sha256: expected 64 hex digits"});
  check_contains(
      recipe_error(R"(, "inputs": {"a": {"path": "/etc/passwd"}})"),
      {"/inputs/a/path: expected a path relative to the recipe's directory, got \"/etc/passwd\""});
  check_contains(recipe_error(R"(, "inputs": {"a": {"url": "ftp://x/y"}})"),
                 {"/inputs/a/url: expected an http:// or https:// URL, got \"ftp://x/y\""});
  check_contains(recipe_error(R"(, "inputs": {"a": {"deb": "busybox"}})"),
                 {"/inputs/a: missing required key \"suite\""});
  check_contains(recipe_error(R"(, "inputs": {"a": {"deb": "Busy Box", "suite": "bookworm"}})"),
                 {"/inputs/a/deb: expected only the characters", "got \"Busy Box\""});
  check_contains(recipe_error(R"(, "inputs": {"a": {"deb": "x", "path": "y", "suite": "s"}})"),
                 {"/inputs/a: expected exactly one of: path, deb, url, got 2"});
  check_contains(recipe_error(R"(, "initramfs": {"compression": "lz4"})"),
                 {"/initramfs/compression: expected one of: none, gzip, zstd, xz, got \"lz4\""});
  check_contains(recipe_error(R"(, "initramfs": {"compression": "gzip", "level": 19})"),
                 {"/initramfs/level: expected a gzip level in 1..9, got 19"});
  check_contains(recipe_error(R"(, "initramfs": {"compression": "zstd", "level": 0})"),
                 {"/initramfs/level: expected a zstd level in 1..19, got 0"});
  check_contains(recipe_error(R"(, "initramfs": {"compression": "none", "level": 1})"),
                 {"/initramfs/level: expected no level"});
  check_contains(recipe_error(R"(, "outputs": ["uki", "iso"])"),
                 {"/outputs/1: expected one of: initramfs, uki, raw, vhd, gcp, got \"iso\""});
  check_contains(recipe_error(R"(, "outputs": ["uki", "uki"])"),
                 {"/outputs/1: expected each value once"});
  check_contains(recipe_error(R"(, "measure": {"platforms": ["qemu", "aws"]})"),
                 {"/measure/platforms/1: expected one of: qemu, azure, tdx, got \"aws\""});
  check_contains(recipe_error(R"(, "measure": {"vms": [{"memory": "2X", "cpus": 1}]})"),
                 {"/measure/vms/0/memory: expected a size such as \"2G\"", "got \"2X\""});
  check_contains(recipe_error(R"(, "measure": {"vms": [{"memory": "1G", "cpus": 0}]})"),
                 {"/measure/vms/0/cpus: expected at least 1 cpu, got 0"});
  check_contains(recipe_error(R"(, "measure": {"rtmr0_calibration": "/abs/ccel"})"),
                 {"/measure/rtmr0_calibration: expected a path relative"});
  check_contains(recipe_error(R"(, "source_date_epoch": -1)"),
                 {"/source_date_epoch: expected a non-negative integer, got -1"});
  check_contains(recipe_error(R"(, "os_release": {"id": "x"})"),
                 {"/os_release/id: expected an os-release key"});
  check_contains(recipe_error(R"(, "os_release": {"ID": "a\nb"})"),
                 {"/os_release/ID: expected a single-line value"});
  check_contains(recipe_error(R"(, "os_release": {}, "os_release_file": "x")"),
                 {"/os_release_file: expected either os_release or os_release_file, got both"});
}

TEST_CASE("an op with zero or two kinds is an error listing the kinds", "[recipe]") {
  check_contains(recipe_error(R"(, "layers": [{"name": "l", "ops": [{"fiel": "/x"}]}])"),
                 {"r.json: /layers/0/ops/0: expected exactly one op kind (extract, file, dir",
                  "got none (keys: fiel)"});
  check_contains(
      recipe_error(R"(, "layers": [{"name": "l", "ops": [{"file": "/x", "dir": "/y"}]}])"),
      {"r.json: /layers/0/ops/0: expected exactly one op kind", "got 2: file, dir"});
  check_contains(
      recipe_error(R"(, "layers": [{"name": "l", "ops": [{"file": "/x"}]}])"),
      {"/layers/0/ops/0: expected exactly one of \"from\" (an input) or \"text\", got neither"});
}

TEST_CASE("schema and output format mismatches say what this tdximg supports", "[recipe]") {
  TempDir dir;
  const auto f = put(dir.path(), "r.json", R"({"schema": 2, "name": "x"})");
  check_contains(error_of([&] { load_recipe(f); }), {"r.json: /schema: expected 1, got 2"});
  const auto g = put(dir.path(), "g.json", R"({"name": "x"})");
  check_contains(error_of([&] { load_recipe(g); }), {"g.json: /: missing required key \"schema\""});
  check_contains(recipe_error(R"(, "output_format": 2)"),
                 {"/output_format: this tdximg writes output format 1, the recipe expects 2"});
  const auto h = put(dir.path(), "h.json", R"({"schema": 1})");
  check_contains(error_of([&] { load_recipe(h); }), {"missing required key \"name\""});
}

TEST_CASE("every from names a declared input", "[recipe]") {
  check_contains(
      recipe_error(R"(, "inputs": {"a": {"url": "https://x.invalid/a"}},
      "layers": [{"name": "l", "ops": [{"file": "/x", "from": "b"}]}])"),
      {"r.json: /layers/0/ops/0/from: expected a declared input, got \"b\" (declared: a)"});
  check_contains(recipe_error(R"(, "kernel": {"from": "k", "path": "boot/vmlinuz-*"})"),
                 {"r.json: /kernel/from: expected a declared input, got \"k\" (declared: none)"});
  check_contains(recipe_error(R"(, "measure": {"firmware": "ovmf"})"),
                 {"/measure/firmware/from: expected a declared input"});
  check_contains(
      recipe_error(R"(, "layers": [{"name": "l", "ops": [{"modules": ["x"], "from": "kernel"}]}])"),
      {"/layers/0/ops/0/from: expected a declared input"});
}

TEST_CASE("a file that cannot be read is an io error naming it", "[recipe]") {
  const std::string m =
      error_of([] { load_recipe("/nonexistent/tdximg/recipe.json"); }, ErrorKind::io);
  check_contains(m, {"/nonexistent/tdximg/recipe.json"});
}

TEST_CASE("deeply nested or huge JSON fails cleanly", "[recipe]") {
  // reliability.md: nesting 10^4 must not crash the parser.
  std::string deep = R"({"schema": 1, "name": "d", "x": )" + std::string(10000, '[') +
                     std::string(10000, ']') + "}";
  TempDir dir;
  const auto f = put(dir.path(), "deep.json", deep);
  check_contains(error_of([&] { load_recipe(f); }), {"/x: unknown key"});
  const auto big =
      put(dir.path(), "big.json",
          R"({"schema": 1, "name": "b", "cmdline": ")" + std::string(4 << 20, 'a') + "\"}");
  CHECK(load_recipe(big).cmdline.size() == (4U << 20));
}

TEST_CASE("recipe text given directly is read as if it were the named file", "[recipe]") {
  const fs::path file = data_dir() / "chain" / "child" / "recipe.json";
  const Recipe r = parse_recipe_text(R"({"schema": 1, "extends": "../base",
      "inputs": {"x": {"path": "files/app"}}})",
                                     file);
  CHECK(r.name == "base");
  CHECK(r.inputs.at("x").path ==
        fs::absolute(data_dir() / "chain" / "child" / "files" / "app").lexically_normal());
  check_contains(error_of([&] { parse_recipe_text("{", file); }), {file.string() + ":1:"});
}

TEST_CASE("a compression level too large for 64 bits is rejected, not wrapped", "[recipe]") {
  check_contains(
      recipe_error(R"(, "initramfs": {"compression": "zstd", "level": 18446744073709551615})"),
      {"/initramfs/level: expected a zstd level in 1..19, got 18446744073709551615"});
  check_contains(recipe_error(R"(, "initramfs": {"compression": "zstd", "level": -3})"),
                 {"/initramfs/level: expected a zstd level in 1..19, got -3"});
}

TEST_CASE("measure.secure_boot_vars and secure_boot_db_cert: references, errors, digest",
          "[recipe]") {
  const std::string inputs = R"(, "inputs": {"ovmf": {"url": "https://x.invalid/ovmf.deb"}})";
  TempDir dir;
  const auto one = put(dir.path(), "one.json", R"({"schema": 1, "name": "t")" + inputs +
                                                   R"(, "measure": {"secure_boot_vars": {"from": "ovmf", "path": "usr/share/OVMF/OVMF_VARS_4M.fd"}}})");
  const Recipe r1 = load_recipe(one);
  REQUIRE(r1.measure.secure_boot_vars.size() == 1);
  CHECK(r1.measure.secure_boot_vars[0].path == "usr/share/OVMF/OVMF_VARS_4M.fd");
  CHECK_FALSE(r1.measure.secure_boot_db_cert);
  const auto two = put(dir.path(), "two.json", R"({"schema": 1, "name": "t")" + inputs +
                                                   R"(, "measure": {"secure_boot_vars": [{"from": "ovmf", "path": "a.fd"}, {"from": "ovmf", "path": "b.fd"}],
                                                        "secure_boot_db_cert": {"from": "ovmf", "path": "c.pem"}}})");
  const Recipe r2 = load_recipe(two);
  REQUIRE(r2.measure.secure_boot_vars.size() == 2);
  CHECK(r2.measure.secure_boot_vars[1].path == "b.fd");
  REQUIRE(r2.measure.secure_boot_db_cert);
  CHECK(r2.measure.secure_boot_db_cert->path == "c.pem");
  // Both are part of the recipe digest; a recipe without them keeps its old canonical form.
  const std::string c2 = canonical_json(r2);
  check_contains(c2, {R"("secure_boot_vars":[{"from":"ovmf","path":"a.fd"},{"from":"ovmf","path":"b.fd"}])",
                      R"("secure_boot_db_cert":{"from":"ovmf","path":"c.pem"})"});
  const auto none = put(dir.path(), "none.json", R"({"schema": 1, "name": "t")" + inputs + "}");
  CHECK(canonical_json(load_recipe(none)).find("secure_boot") != std::string::npos); // the states
  CHECK(canonical_json(load_recipe(none)).find("secure_boot_vars") == std::string::npos);
  const auto other_cert = put(dir.path(), "three.json", R"({"schema": 1, "name": "t")" + inputs +
                                                            R"(, "measure": {"secure_boot_vars": [{"from": "ovmf", "path": "a.fd"}, {"from": "ovmf", "path": "b.fd"}],
                                                        "secure_boot_db_cert": {"from": "ovmf", "path": "d.pem"}}})");
  CHECK(recipe_digest(load_recipe(other_cert)) != recipe_digest(r2));

  // Errors name the JSON path and say what was expected.
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_vars": 3})"),
                 {"/measure/secure_boot_vars: expected a file reference or an array of them, got integer 3"});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_vars": []})"),
                 {"/measure/secure_boot_vars: expected 1 or 2 file references (one per Secure Boot state), got 0"});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_vars": ["ovmf", "ovmf", "ovmf"]})"),
                 {"/measure/secure_boot_vars: expected 1 or 2 file references", "got 3"});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_vars": [{"from": "ovmf", "pth": "x"}]})"),
                 {"/measure/secure_boot_vars/0", "pth"});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_vars": [{"from": "nope"}]})"),
                 {"/measure/secure_boot_vars/0/from: expected a declared input, got \"nope\""});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_db_cert": {"from": "nope"}})"),
                 {"/measure/secure_boot_db_cert/from: expected a declared input, got \"nope\""});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_db_cert": true})"),
                 {"/measure/secure_boot_db_cert"});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_keys": "ovmf"})"),
                 {"/measure", "secure_boot_keys"});
  // Combinations that cannot give a PCR 7, refused at load time.
  check_contains(recipe_error(inputs + R"(, "measure": {"platforms": ["azure"], "secure_boot_vars": "ovmf"})"),
                 {"r.json: /measure/secure_boot_vars/0: PCR 7 from a variable store is predicted for platform \"qemu\" only, but /measure/platforms is [\"azure\"]"});
  check_contains(recipe_error(inputs + R"(, "measure": {"secure_boot_db_cert": "ovmf"})"),
                 {"r.json: /measure/secure_boot_db_cert: a db certificate is used only with /measure/secure_boot_vars"});
}

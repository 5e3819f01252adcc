"""python -m arbitrary_style.weights import|list|info|download — manage pretrained weights.

  import   --onnx DIR | --checkpoint PATH  [--name NAME]   convert local files into the cache
  download [SOURCE]                        [--name NAME]   fetch official weights (network;
           verified: --sha256 HEX or the registry's digest, else --allow_unverified; https
           only unless --allow_http)
  list                                                     what the cache holds
  info     NAME_OR_DIR                                     backbone, alpha, source, size
"""

import json
import pathlib

from absl import flags

from arbitrary_style import cli, progress_bar
from arbitrary_style.errors import UserError
from arbitrary_style.weights import registry, store

flags.DEFINE_string("onnx", None, "import: a directory with arbitrary_predict.onnx and "
                    "arbitrary_transform.onnx (e.g. ../shared/pretrained/magenta-mobile-int8).")
flags.DEFINE_string("checkpoint", None, "import: a Magenta TF1 checkpoint prefix or directory.")
flags.DEFINE_string("name", None, "Cache name to store the weights under (default: "
                    f"{store.DEFAULT_WEIGHTS} for --onnx, 'magenta' for --checkpoint, "
                    "the source name for download).")
flags.DEFINE_string("url", None,
                    "download: fetch from this URL/handle instead of the official one.")
flags.DEFINE_string("sha256", None, "download: the sha256 the archive must have (default: the "
                    "one the registry records for the source, where upstream publishes one).")
flags.DEFINE_bool("allow_http", False, "download: allow a plain http:// URL.")
flags.DEFINE_bool("allow_unverified", False, "download: accept an archive whose sha256 is not "
                  "known (the digest it had is printed and recorded in its config.json).")
flags.DEFINE_bool("force", False, "Replace weights already in the cache.")
FLAGS = flags.FLAGS


def _store(model, name, source):
    target = store.cache_dir(name)
    store.save_model(model, target, source=source)
    print(f"saved {model.config.backbone} alpha={model.config.alpha} weights to {target}")


def _already_cached(name):
    if store.cache_dir(name).exists() and not FLAGS.force:
        print(f"{name} is already in the cache ({store.cache_dir(name)}); --force replaces it")
        return True
    return False


def cmd_import(args):
    from arbitrary_style.weights import importers

    if args or bool(FLAGS.onnx) == bool(FLAGS.checkpoint):
        raise UserError("import takes exactly one of --onnx DIR or --checkpoint PATH")
    name = FLAGS.name or (store.DEFAULT_WEIGHTS if FLAGS.onnx else "magenta")
    if _already_cached(name):
        return
    if FLAGS.onnx:
        _store(importers.import_onnx_dir(FLAGS.onnx), name,
               f"onnx:{pathlib.Path(FLAGS.onnx).resolve()}")
    else:
        _store(importers.import_checkpoint(FLAGS.checkpoint), name,
               f"checkpoint:{pathlib.Path(FLAGS.checkpoint).resolve()}")


def cmd_download(args):
    from arbitrary_style.weights import download

    if len(args) > 1:
        raise UserError("download takes one source name")
    source = args[0] if args else "magenta"
    if source not in registry.DOWNLOADABLE:
        raise UserError(f"unknown source {source!r}; choose one of {registry.DOWNLOADABLE}")
    name = FLAGS.name or source
    if _already_cached(name):
        return
    print(f"downloading {registry.KNOWN_WEIGHTS[source].description}")
    with progress_bar.bar(unit="B", unit_scale=True, leave=False) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        model, where = download.download(
            source, url=FLAGS.url, sha256=FLAGS.sha256, allow_http=FLAGS.allow_http,
            allow_unverified=FLAGS.allow_unverified, progress=progress)
    print(f"fetched {where}")
    _store(model, name, where)


def cmd_list(args):
    if args:
        raise UserError("list takes no arguments")
    names = store.cached_names()
    default = store.resolve_weights(None)
    if default not in [store.cache_dir(name) for name in names]:
        config, raw = store.read_config(default)
        print(f"{store.DEFAULT_WEIGHTS} (default, built in): backbone={config.backbone} "
              f"alpha={config.alpha} source={raw['source']} ({default})")
    for name in names:
        marker = " (default)" if store.cache_dir(name) == default else ""
        try:
            config, raw = store.read_config(store.cache_dir(name))
        except UserError as error:  # One broken entry does not hide the others.
            print(f"{name}{marker}: BROKEN ({error})")
            continue
        print(f"{name}{marker}: backbone={config.backbone} alpha={config.alpha} "
              f"source={raw.get('source', '')}")


def cmd_info(args):
    if len(args) != 1:
        raise UserError("info takes one weights name or directory")
    directory = store.resolve_weights(args[0])
    _, raw = store.read_config(directory)
    size = sum(f.stat().st_size for f in directory.iterdir() if f.is_file())
    print(json.dumps({**raw, "directory": str(directory), "bytes": size}, indent=2))


COMMANDS = {"import": cmd_import, "download": cmd_download, "list": cmd_list, "info": cmd_info}


def main(argv):
    if len(argv) < 2 or argv[1] not in COMMANDS:
        raise UserError(f"give a command: one of {', '.join(COMMANDS)} (see --help)")
    COMMANDS[argv[1]](argv[2:])
    return 0


if __name__ == "__main__":
    cli.run(main, takes_arguments=True)

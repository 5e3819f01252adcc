"""python -m arbitrary_style.weights import|list|info|download — manage pretrained weights.

  import   --onnx DIR | --checkpoint PATH  [--name NAME]   convert local files into the cache
  download [SOURCE]                        [--name NAME]   fetch official weights (network)
  list                                                     what the cache holds
  info     NAME_OR_DIR                                     backbone, alpha, source, size
"""

import json

from absl import flags

from arbitrary_style import cli
from arbitrary_style.errors import UserError
from arbitrary_style.weights import store

flags.DEFINE_string("onnx", None, "import: a directory with arbitrary_predict.onnx and "
                    "arbitrary_transform.onnx (e.g. ../shared/pretrained/magenta-mobile-int8).")
flags.DEFINE_string("checkpoint", None, "import: a Magenta TF1 checkpoint prefix or directory.")
flags.DEFINE_string("name", None, "Cache name to store the weights under (default: "
                    f"{store.DEFAULT_WEIGHTS} for --onnx, 'magenta' for --checkpoint, "
                    "the source name for download).")
flags.DEFINE_string("url", None,
                    "download: fetch from this URL/handle instead of the official one.")
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
        _store(importers.import_onnx_dir(FLAGS.onnx), name, f"onnx:{FLAGS.onnx}")
    else:
        _store(importers.import_checkpoint(FLAGS.checkpoint), name,
               f"checkpoint:{FLAGS.checkpoint}")


def cmd_download(args):
    from arbitrary_style.weights import download

    if len(args) > 1:
        raise UserError("download takes one source name")
    source = args[0] if args else "magenta"
    if source not in download.SOURCES:
        raise UserError(f"unknown source {source!r}; choose one of {sorted(download.SOURCES)}")
    name = FLAGS.name or source
    if _already_cached(name):
        return
    print(f"downloading {download.SOURCES[source].description}")
    _store(download.download(source, url=FLAGS.url), name,
           FLAGS.url or download.SOURCES[source].url)


def cmd_list(args):
    if args:
        raise UserError("list takes no arguments")
    names = store.cached_names()
    if not names:
        print(f"no weights in {store.home() / 'weights'}; get some with: "
              "python -m arbitrary_style.weights import --onnx DIR  (or: download)")
    for name in names:
        config, raw = store.read_config(store.cache_dir(name))
        default = " (default)" if name == store.DEFAULT_WEIGHTS else ""
        print(f"{name}{default}: backbone={config.backbone} alpha={config.alpha} "
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

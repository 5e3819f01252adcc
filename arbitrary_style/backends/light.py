"""The `light` backend: StyleModel's networks as ONNX graphs run by onnxruntime.

Importing this module does not import TensorFlow (about 3.8 s and 560 MiB saved). The
graphs come from the one Keras model (`light_graphs`): shipped with the built-in
weights, built once and cached for others.

    model = light.load(weights_dir)
    stylized = model.stylize(content, model.predict_style(style))
"""

import os
import pathlib

import numpy as np

from arbitrary_style.backends import light_graphs
from arbitrary_style.network_io import NetworkRunner
from arbitrary_style.weights import store


class LightModel(NetworkRunner):
    """StyleModel's inference API (same arrays, same results within 1e-3) on onnxruntime.

    A batch of several images (video frames) is stylized as concurrent single-threaded
    runs, one per thread (`_transfer`): on 2 cores that is faster than one run of the
    batch, or one image at a time, on both threads (BUILD_NOTES, issue 26)."""

    backend = "light"  # The --backend value that loads it.

    def __init__(self, directory, config, num_threads=None):
        self.config = config
        self._directory = pathlib.Path(directory)
        self._threads = num_threads or len(os.sched_getaffinity(0))
        self._sessions = {name: self._session(name) for name in ("predict", "transfer")}
        self._pool = None  # Threads for concurrent runs, made on first use.

    def _session(self, name, threads=None):
        import onnxruntime

        return onnxruntime.InferenceSession(
            str(self._directory / light_graphs.GRAPH_FILES[name]),
            self.session_options(name, threads or self._threads),
            providers=["CPUExecutionProvider"])

    def _moments_session(self):
        """The moments graph's session, made on first use (tiles): the plain path neither
        loads nor runs it."""
        if "moments" not in self._sessions:
            self._sessions["moments"] = self._session("moments")
        return self._sessions["moments"]

    @property
    def moments_size(self):
        """M, from the transfer graph's norm offsets input."""
        offsets = next(value for value in self._sessions["transfer"].get_inputs()
                       if value.name == "norm_offsets")
        return offsets.shape[1]

    @staticmethod
    def session_options(name, threads):
        """onnxruntime options of the `name` graph. The predictor runs once per style
        image (about 3-6 ms at 256 px), so it skips the NCHWc layout rewrite (a second,
        reordered copy of its 9 MB of weights) and keeps no memory arena of its own: about
        25 MiB less peak memory for one image (see BUILD_NOTES, issue 9), and its threads
        do not spin. All graphs fold the DequantizeLinear of int8 weights into float
        weights at load, and do not treat them as quantized arithmetic: the built-in
        graphs then compute bit for bit what their float conversion computes."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.disable_quant_qdq", "1")
        if name == "predict":
            options.graph_optimization_level = (
                onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
            options.enable_cpu_mem_arena = False
            # Its threads sleep between its many small kernels instead of spinning: on a
            # busy machine half the CPU for its session and first run (BUILD_NOTES, 26).
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        return options

    def _predict(self, batch):
        return self._sessions["predict"].run(None, {"image": batch})[0]

    def _transfer(self, batch, vectors, offsets):
        if len(batch) > 1 and self._threads > 1:
            return self._transfer_concurrently(batch, vectors, offsets)
        return self._sessions["transfer"].run(None, {
            "image": batch, "style_vector": vectors, "norm_offsets": offsets})[0]

    def _transfer_concurrently(self, batch, vectors, offsets):
        """The batch's images as concurrent runs of a single-threaded session (made on
        first use), at most one per thread; onnxruntime runs them in parallel."""
        import concurrent.futures

        if self._pool is None:
            self._sessions["transfer_single"] = self._session("transfer", threads=1)
            self._pool = concurrent.futures.ThreadPoolExecutor(self._threads)
        session = self._sessions["transfer_single"]
        runs = [self._pool.submit(session.run, None, {
            "image": batch[i:i + 1], "style_vector": vectors[i:i + 1],
            "norm_offsets": offsets[i:i + 1]}) for i in range(len(batch))]
        return np.concatenate([run.result()[0] for run in runs])

    def _run_moments_graph(self, batch, vectors, offsets, moments, weight):
        return self._moments_session().run(None, {
            "image": batch, "style_vector": vectors, "norm_offsets": offsets,
            "moments": moments, "moments_weight": weight})

    def _own_moments(self, batch, vectors, offsets, moments, weight):
        return self._run_moments_graph(batch, vectors, offsets, moments, weight)[1]

    def _transfer_with_moments(self, batch, vectors, offsets, moments, weight):
        stylized, own = self._run_moments_graph(batch, vectors, offsets, moments, weight)
        if not weight.any():
            # No given moments count: the image `stylize` gives, bit for bit (the two
            # graphs round differently, by up to ~1e-5). Costs a second pass only here
            # (the first frame of a smoothed shot; a tiled image's thumbnail asks
            # only for moments: `instance_moments`).
            stylized = self._transfer(batch, vectors, offsets)
        return stylized, own


def load_built(weights_dir, num_threads=None):
    """The model from the graphs `weights_dir` carries, else from its cached graphs; None
    when they are not built."""
    directory = light_graphs.built_graphs_dir(weights_dir)
    if directory is None:
        return None
    return LightModel(directory, store.read_config(weights_dir)[0], num_threads)


def build(weights_dir, keras_model=None, num_threads=None):
    """Builds the graphs of `weights_dir` (once; imports TensorFlow) from its StyleModel
    (`keras_model`, if already loaded) and loads them."""
    return LightModel(light_graphs.build_graphs(weights_dir, keras_model),
                      store.read_config(weights_dir)[0], num_threads)


def load(weights_dir, num_threads=None):
    """The light model of `weights_dir`, its graphs built first when they are not."""
    return load_built(weights_dir, num_threads) or build(weights_dir, None, num_threads)

"""tfcompress: make TensorFlow/Keras models small and fast for deployment."""

import setuptools

setuptools.setup(
    name="tfcompress",
    version="0.1.0",
    description=(
        "Distillation, pruning, quantization and validated TFLite export "
        "for Keras 3 and tf_keras models."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["tfcompress", "tfcompress.*"]),
    python_requires=">=3.10,<3.14",
    install_requires=[
        # TF 2.21 ships Keras 3 as tf.keras; TFMOT 0.8.1 needs Keras 2, which
        # is the tf-keras package of the same version as TensorFlow.
        "tensorflow==2.21.0",
        "tf-keras==2.21.0",
        # Keras 3, for the bridge (tfcompress.keras3): the versions it is tested with.
        "keras>=3.15,<3.16",
        "tensorflow-model-optimization==0.8.1",
        "tensorflow-datasets==4.9.10",
        # tensorflow-datasets 4.9.10 imports it without declaring it.
        "importlib_resources>=6",
        # TFMOT 0.8.1 pins absl-py~=1.2.
        "absl-py~=1.2",
        # tf.lite.Interpreter is deprecated; LiteRT runs our .tflite files.
        "ai-edge-litert>=2.0,<3",
        # int4 Dense weights (export.int4_weights), which the converter cannot
        # write. It pins ai-edge-litert exactly (2.3.0 for 0.10.0) and needs no
        # TensorFlow; it installed beside these pins without a change
        # (BENCHMARKS.md, "ai-edge-quantizer").
        "ai-edge-quantizer==0.10.0",
        "numpy>=1.26,<3",
        # The pipeline report's plots.
        "matplotlib>=3.8,<4",
        # TF 2.21 no longer pulls TensorBoard in; Keras' TensorBoard callback needs it.
        "tensorboard~=2.21.0",
    ],
    extras_require={"test": ["pytest>=8", "pytest-xdist>=3"]},
    entry_points={"console_scripts": ["tfcompress=tfcompress.cli.main:run"]},
)

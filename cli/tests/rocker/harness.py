"""Runs rocker's own command line (rocker.cli.main) on each line given, with the Docker daemon,
the image build and the terminal stood in for, and prints what rocker would do as one JSON object
per line: the parse (image, command), or the `docker run` argv it would run, or the error it gives.

quarry's differential test (cli/tests/rocker_differential.rs) runs this with rocker 0.4.0 and
deps_rocker 0.23.2 installed, and compares each line with `quarry rocker --dry-run`.

Input on stdin: a JSON list of argv lists (without `rocker`). Nothing here needs a network.
"""

import contextlib
import io
import json
import shlex
import sys

import rocker.cli as cli
import rocker.core as core
import rocker.extensions as extensions
import rocker.nvidia_extension as nvidia


class Daemon:
    """What rocker asks the Docker daemon: networks for `--network`'s choices, a version for
    `--nvidia auto`, and that the base image exists."""

    def networks(self):
        return [{"Name": n} for n in ("bridge", "host", "none")]

    def version(self):
        return {"Version": "26.1.5"}

    def ping(self):
        return True

    def inspect_image(self, image):
        return {"Id": image}


def daemon():
    return Daemon()


core.get_docker_client = daemon
extensions.get_docker_client = daemon
nvidia.get_docker_client = daemon
cli.base_image_exists = lambda *a, **k: True
nvidia.has_nvidia_driver = lambda: True
core.generate_dockerfile = lambda *a, **k: ""

RESULT = {}


def build(self, **kwargs):
    self.image_id = "IMAGE"
    self.built = True
    return 0


def run(self, command="", **kwargs):
    for e in self.active_extensions:
        e.precondition_environment(self.cliargs)
    RESULT["docker_run"] = shlex.split(self.generate_docker_cmd(command, **kwargs))
    RESULT["image"] = self.cliargs.get("base_image")
    RESULT["extensions"] = sorted(e.get_name() for e in self.active_extensions)
    return 0


core.DockerImageGenerator.build = build
core.DockerImageGenerator.run = run
core.DockerImageGenerator.clear_image = lambda self: None


def one(argv):
    RESULT.clear()
    sys.argv = ["rocker"] + argv
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main()
    except SystemExit as e:
        code = e.code
    if "docker_run" in RESULT:
        return {"ok": True, **RESULT}
    # argparse's error is the last line on stderr; rocker's own ("ERROR! ...") on stdout.
    lines = [l for l in err.getvalue().splitlines() if l.strip()]
    lines = lines or [l for l in out.getvalue().splitlines() if l.strip()]
    return {"ok": False, "error": lines[-1] if lines else f"exit {code}"}


def main():
    for argv in json.load(sys.stdin):
        print(json.dumps(one(argv)))


if __name__ == "__main__":
    main()

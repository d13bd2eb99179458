# Sourced by scripts/test: the agent's container test runs a task in a real Docker container.
# Where docker does not answer and apt is usable, install Debian's docker.io and start dockerd
# (stopped again when the tests end); then build the test image from Debian packages
# (debootstrap: python3 and pip, with this machine's CA bundle so pip reaches the package index
# the way the host does), since the tests' network reaches no image registry. Anything that fails
# here only makes that test skip (it is never required: not every machine can run a daemon).
source "$(dirname "${BASH_SOURCE[0]}")/_apt.sh"
PIPETRACK_DOCKER_LOG=/tmp/pipetrack-docker.log
export PIPETRACK_TEST_DOCKER_IMAGE="${PIPETRACK_TEST_DOCKER_IMAGE:-pipetrack-test/python:3.11-bookworm}"

_pipetrack_docker_answers() { command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1; }

_pipetrack_start_docker() {
  if ! command -v dockerd >/dev/null 2>&1; then
    apt_usable || return 1
    echo "installing Debian's docker.io for the agent's container test (log: $PIPETRACK_APT_LOG)" >&2
    apt_install docker.io iptables debootstrap || return 1
  fi
  [ "$(id -u)" -eq 0 ] || return 1
  echo "starting dockerd for the agent's container test (log: $PIPETRACK_DOCKER_LOG)" >&2
  dockerd >"$PIPETRACK_DOCKER_LOG" 2>&1 &
  _PIPETRACK_DOCKERD_PID=$!
  trap 'kill "$_PIPETRACK_DOCKERD_PID" 2>/dev/null; wait "$_PIPETRACK_DOCKERD_PID" 2>/dev/null' EXIT
  local i
  for i in $(seq 60); do _pipetrack_docker_answers && return 0; sleep 1; done
  echo "dockerd did not answer within 60 s: the container test will skip" >&2
  return 1
}

_pipetrack_build_test_image() {
  timeout 20 docker image inspect "$PIPETRACK_TEST_DOCKER_IMAGE" >/dev/null 2>&1 && return 0
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap || return 1
  local rootfs
  rootfs="$(mktemp -d /tmp/pipetrack-rootfs.XXXXXX)"
  echo "building the test image $PIPETRACK_TEST_DOCKER_IMAGE with debootstrap (log: $PIPETRACK_DOCKER_LOG)" >&2
  local code=1
  if debootstrap --variant=minbase --include=python3,python3-pip bookworm "$rootfs" http://deb.debian.org/debian \
        >>"$PIPETRACK_DOCKER_LOG" 2>&1; then
    cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true
    tar -C "$rootfs" -c . | docker import - "$PIPETRACK_TEST_DOCKER_IMAGE" >>"$PIPETRACK_DOCKER_LOG" 2>&1 && code=0
  fi
  rm -rf "$rootfs"
  return $code
}

if _pipetrack_docker_answers || _pipetrack_start_docker; then
  _pipetrack_build_test_image || echo "could not build $PIPETRACK_TEST_DOCKER_IMAGE: the container test will skip" >&2
else
  echo "no docker daemon here: the agent's container test will skip" >&2
fi

#!/usr/bin/env bash
# Every K3s node: imports the image archives of /vagrant/.lab/images (scripts/lab/images.sh) into K3s's
# containerd, where the chart's pods find them (values-lab.yaml: pullPolicy Never).
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh

shopt -s nullglob
archives=("$lab_share"/images/*.tar)
((${#archives[@]})) ||
  mp_die "no image archives in $lab_share/images: run 'vagrant provision master --provision-with images' first"
for archive in "${archives[@]}"; do
  mp_log "importing $(basename "$archive")"
  k3s ctr images import "$archive" >/dev/null
done
mp_log "images on $(hostname): $(k3s ctr images ls -q | grep -F docker.io/movie-platform/ | tr '\n' ' ')"

#!/usr/bin/env bash
# The master VM: builds the four program images from the repository's Dockerfile with
# scripts/build-images (debootstrap + buildah, as on the build machines), saves them as archives in
# /vagrant/.lab/images for the other nodes, and imports them into this node's K3s containerd.
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh

lab_apt_install buildah debootstrap
# The compiler needs more than what 2 GiB leave next to K3s: swap for the build only.
swap=/var/lib/movie-platform-build.swap
if [[ -z $(swapon --noheadings) ]]; then
  mp_log "adding 2 GiB of swap for the build"
  fallocate -l 2G "$swap"
  chmod 600 "$swap"
  mkswap -q "$swap"
  swapon "$swap"
  trap 'swapoff "$swap" && rm -f "$swap"' EXIT
fi
mp_log "building the images (the first time takes a while: a Debian base and four C++ programs)"
MP_IMAGE_CACHE=/var/cache/movie-platform /vagrant/scripts/build-images --save "$lab_share/images"
/vagrant/scripts/lab/import-images.sh

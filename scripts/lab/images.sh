#!/usr/bin/env bash
# The master VM: builds the four program images from the repository's Dockerfile with
# scripts/build-images (debootstrap + buildah, as on the build machines), saves them as archives in
# /vagrant/.lab/images for the other nodes, and imports them into this node's K3s containerd.
# shellcheck source=scripts/lab/common.sh
source /vagrant/scripts/lab/common.sh

lab_apt_install buildah debootstrap
lab_build_swap
mp_log "building the images (the first time takes a while: a Debian base and four C++ programs)"
MP_IMAGE_CACHE=/var/cache/movie-platform bash /vagrant/scripts/build-images --save "$lab_share/images"
bash /vagrant/scripts/lab/import-images.sh

#!/usr/bin/with-contenv bashio
# shellcheck shell=bash
# Starts this flat's ledger node: addon.py turns the add-on's options into the node's
# files (creating the key on the first start), then becomes the node itself.
bashio::log.info "Starting the Local VPP sidecar for flat $(bashio::config 'flat')"
exec python3 /usr/lib/local-vpp/addon.py start

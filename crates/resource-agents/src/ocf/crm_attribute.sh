#!/bin/sh
# encluster's crm_attribute, for OCF agents of promotable resources (installed by the ocf
# resource agent in HA_SBIN_DIR). It stores this instance's promotion score in
# $HA_RSCTMP/promotion-score, which the node's agent sends to the master after the
# operation. It understands what agents such as ocf:pacemaker:Stateful say:
#   crm_attribute --promotion -v SCORE | -D | -G [-q]   (-l, -N, -n, -t are accepted)
set -u
file="${HA_RSCTMP:?crm_attribute (encluster): HA_RSCTMP is not set}/promotion-score"
mode="" value="" promotion=0 quiet=0
usage() {
    echo "crm_attribute (encluster): $1; only --promotion with -v SCORE, -D or -G is supported" >&2
    exit 64
}
while [ $# -gt 0 ]; do
    case "$1" in
        -p|--promotion|--promotion=*) promotion=1 ;;
        -v|--update|--attr-value) shift; mode=set; value="${1:-}" ;;
        --update=*|--attr-value=*) mode=set; value="${1#*=}" ;;
        -D|--delete) mode=delete ;;
        -G|--query|--get-value) mode=query ;;
        -q|--quiet) quiet=1 ;;
        -l|--lifetime|-N|--node|-n|--name|-t|--type) shift ;;
        --lifetime=*|--node=*|--name=*|--type=*) ;;
        *) usage "unsupported argument $1" ;;
    esac
    shift
done
[ "$promotion" = 1 ] || usage "only promotion scores (--promotion) are supported"
case "$mode" in
    set)
        case "$value" in
            INFINITY|+INFINITY|-INFINITY) ;;
            ''|-|*[!0-9-]*|?*-*) usage "score '$value' is not an integer or INFINITY" ;;
        esac
        printf '%s\n' "$value" > "$file.tmp" && mv -f "$file.tmp" "$file"
        ;;
    delete) rm -f "$file" ;;
    query)
        [ -f "$file" ] || { echo "crm_attribute (encluster): no promotion score" >&2; exit 105; }
        if [ "$quiet" = 1 ]; then cat "$file"; else echo "name=promotion value=$(cat "$file")"; fi
        ;;
    *) usage "say -v SCORE, -D or -G" ;;
esac

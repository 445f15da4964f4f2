# Bandwidth limits of one microVM's tap, in both directions, with nothing but iproute2:
#
#   bandwidth-limits.sh start TAP IFB TO_RATE TO_BURST TO_LATENCY FROM_RATE FROM_BURST FROM_LATENCY
#   bandwidth-limits.sh stop  TAP IFB
#
# "-" as a rate leaves that direction unlimited. Host-to-guest traffic leaves through the tap, so a tbf
# qdisc on its root shapes it. Guest-to-host traffic enters through the tap, where a qdisc cannot queue
# it: it is redirected (act_mirred) to an IFB device whose root tbf shapes it as if it left there. Shaping
# instead of policing: TCP gets the configured rate (policing dropped it to 52-63 %), and kernels without
# act_police work. Any failure exits non-zero, so that the VM, which requires this, does not start
# without its limits. Every start first removes what a previous one left, so it can run again.
set -eu

action=$1
tap=$2
ifb=$3

clear() {
  tc qdisc del dev "$tap" root 2>/dev/null || true
  tc qdisc del dev "$tap" ingress 2>/dev/null || true
  ip link del "$ifb" 2>/dev/null || true
}

case $action in
stop)
  clear
  ;;
start)
  to_rate=$4 to_burst=$5 to_latency=$6
  from_rate=$7 from_burst=$8 from_latency=$9
  clear
  if [ "$to_rate" != - ]; then
    tc qdisc add dev "$tap" root tbf rate "$to_rate" burst "$to_burst" latency "$to_latency"
  fi
  if [ "$from_rate" != - ]; then
    ip link add "$ifb" type ifb
    ip link set "$ifb" up
    tc qdisc add dev "$ifb" root tbf rate "$from_rate" burst "$from_burst" latency "$from_latency"
    tc qdisc add dev "$tap" handle ffff: ingress
    tc filter add dev "$tap" parent ffff: protocol all prio 1 u32 match u32 0 0 \
      action mirred egress redirect dev "$ifb"
  fi
  ;;
*)
  echo "usage: $0 start|stop TAP IFB [limits]" >&2
  exit 2
  ;;
esac

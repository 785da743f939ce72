# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# timeline.awk: where one ib_write_lat message's time goes on a host, from
# an ftrace record (wire-guest.sh --timeline): for each message, from the
# NIC's receive interrupt to the peer's WRITE handed to the stack, through
# the device's work items (WORK: a regex of their functions), back to the
# application, its doorbell (write(2) on the uverbs file) and our WRITE
# out on the link. Prints the median of each piece in microseconds.
# Also, to tell the link from the hosts: how long our WRITE waits for its
# ACK, and how long this host takes to answer the peer's WRITE with an ACK;
# the link's round trip is the first on one host less the second on the
# other.
#   awk -v work='mirror_qp_rx_work' -v app=ib_write_lat -f timeline.awk TRACE
function stamp(line, t) {
	t = line
	sub(/^.*\] [^ ]+ +/, "", t)
	return t + 0
}
{ ts = stamp($0) }
/irq_handler_entry: .*name=virtio.*-input/ { irq = ts; next }
# The ACK (IP + UDP + BTH + AETH + ICRC) of our last WRITE.
/netif_receive_skb: / && / len=48$/ {
	if (t_out) {
		na++; ack_rtt[na] = ts - t_out; t_out = 0
	}
	next
}
# Our ACK of the peer's WRITE.
/net_dev_xmit: / && / len=62 / {
	if (st >= 1 && !ack_done) {
		nb++; ack_turn[nb] = ts - t_irq; ack_done = 1
	}
	next
}
# The peer's WRITE ONLY of 8 bytes: IP + UDP + BTH + RETH + 8 + ICRC.
/netif_receive_skb: / && / len=68$/ {
	st = 1; t_irq = irq; t_rx = ts; t_work = 0; works = 0; ack_done = 0
	next
}
st >= 1 && st <= 3 && /workqueue_execute_start: / && $0 ~ work {
	if (!t_work)
		t_work = ts
	w0 = ts; st = 2; next
}
st == 2 && /workqueue_execute_end: / && $0 ~ work {
	t_wend = ts; busy += ts - w0; works++; st = 3; next
}
st == 3 && /sched_switch: / && $0 ~ ("next_comm=" app " ") { t_app = ts; next }
st == 3 && $0 ~ ("^ *" app "-") && /sys_enter: NR 1 / { t_db = ts; st = 4; next }
# Our WRITE ONLY of 8 bytes out: Ethernet + the 68 above.
st == 4 && /net_dev_xmit: / && / len=82 / {
	if (t_work && t_app >= t_wend) {
		n++
		v[1, n] = t_rx - t_irq; v[2, n] = t_work - t_rx; v[3, n] = busy
		v[4, n] = t_wend - t_work - busy; v[5, n] = t_app - t_wend
		v[6, n] = t_db - t_app; v[7, n] = ts - t_db; v[8, n] = ts - t_irq
		nw += works; tot += ts - t_irq
	}
	t_out = ts
	st = 0; busy = 0; t_app = 0; next
}
# median_of(arr, m): the median of arr[1..m] (insertion sort).
function median_of(arr, m, i, j, x, a) {
	for (i = 1; i <= m; i++) {
		x = arr[i]
		for (j = i - 1; j >= 1 && a[j] > x; j--)
			a[j + 1] = a[j]
		a[j + 1] = x
	}
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
# median(k): the median of piece k over the n messages.
function median(k, i, piece) {
	for (i = 1; i <= n; i++)
		piece[i] = v[k, i]
	return median_of(piece, n)
}
END {
	if (!n) {
		print "  no complete message found in the record"
		exit
	}
	split("interrupt -> packet to the stack (NAPI)|" \
	      "packet -> device work item starts|" \
	      "in the device's work items (incl. the ACK)|" \
	      "between the work items|" \
	      "last work item -> application runs|" \
	      "application: sees the data, rings doorbell|" \
	      "doorbell -> our WRITE on the link|" \
	      "turnaround on this host", name, "|")
	printf "  %d messages, %.1f work items each; median microseconds:\n", n, nw / n
	for (k = 1; k <= 8; k++)
		printf "  %-44s %7.1f\n", name[k], median(k) * 1e6
	printf "  %-44s %7.1f\n", "turnaround on this host, mean", tot / n * 1e6
	if (na && nb) {
		printf "  %-44s %7.1f\n", "peer's WRITE (interrupt) -> our ACK out", median_of(ack_turn, nb) * 1e6
		printf "  %-44s %7.1f\n", "our WRITE out -> its ACK in", median_of(ack_rtt, na) * 1e6
	}
}

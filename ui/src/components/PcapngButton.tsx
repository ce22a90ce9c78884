// Downloads the shown journey (its request and reply) as pcapng for Wireshark, built in the page
// by the agent's own writer: nothing goes back to the server.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { journeysToPcapng } from '@hopscope/agent/export/pcapng.ts';
import { download } from '../api/download.ts';

export function PcapngButton({ request, reply }: { request: Journey; reply?: Journey }) {
  const save = () => {
    const { bytes } = journeysToPcapng(reply ? [request, reply] : [request], { application: 'hopscope UI' });
    download(`hopscope-${request.id}.pcapng`, bytes, 'application/vnd.tcpdump.pcap');
  };
  return (
    <button className="pcapng" onClick={save} data-testid="export-pcapng" title="headers only: hopscope keeps no payload; open it in Wireshark">
      ⤓ pcapng
    </button>
  );
}

// Downloads the shown journey (its request and reply) as pcapng for Wireshark, built in the page
// by the agent's own writer: nothing goes back to the server.
import type { Journey } from '@hopscope/agent/protocol/events.ts';
import { journeysToPcapng } from '@hopscope/agent/export/pcapng.ts';

function download(name: string, bytes: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/vnd.tcpdump.pcap' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  // The click has handed the blob to the download; the URL is no longer needed.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function PcapngButton({ request, reply }: { request: Journey; reply?: Journey }) {
  const save = () => {
    const { bytes } = journeysToPcapng(reply ? [request, reply] : [request], { application: 'hopscope UI' });
    download(`hopscope-${request.id}.pcapng`, bytes);
  };
  return (
    <button className="pcapng" onClick={save} data-testid="export-pcapng" title="headers only: hopscope keeps no payload; open it in Wireshark">
      ⤓ pcapng
    </button>
  );
}

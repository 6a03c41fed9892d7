// `podnet pcap read FILE [--json]`: stream a capture and print each frame.
import { existsSync, statSync } from 'node:fs';
import { dissect, dissectionToJson, PodnetError, pcap, TcpdumpPrinter } from '@podnet/wire';

export interface Output {
  out: (line: string) => void;
  err: (line: string) => void;
}

export async function pcapRead(file: string, json: boolean, io: Output): Promise<number> {
  if (!existsSync(file)) {
    io.err(`podnet: ${file}: no such file`);
    return 1;
  }
  if (statSync(file).isDirectory()) {
    io.err(`podnet: ${file}: is a directory, not a pcap file`);
    return 1;
  }
  const printer = new TcpdumpPrinter();
  try {
    const header = await pcap.readPcapHeader(file);
    if (header.linkType !== pcap.LINKTYPE_ETHERNET) {
      io.err(`podnet: ${file}: link type ${header.linkType} is not Ethernet (1); only Ethernet captures can be decoded`);
      return 1;
    }
    for await (const record of pcap.readPcap(file)) {
      const d = dissect(record.data);
      const timestamp = { seconds: record.seconds, nanoseconds: record.nanoseconds };
      if (json) {
        io.out(
          JSON.stringify({
            frame: record.frameNumber,
            byteOffset: record.byteOffset,
            timestamp: `${new Date(record.seconds * 1000).toISOString().slice(0, 19)}.${String(record.nanoseconds).padStart(9, '0')}Z`,
            capturedLength: record.data.length,
            originalLength: record.originalLength,
            ...(dissectionToJson(d) as object),
          }),
        );
      } else {
        io.out(printer.format(d, { timestamp }));
      }
    }
  } catch (error) {
    if (error instanceof PodnetError) {
      io.err(`podnet: ${file}: ${error.message}`);
      return 1;
    }
    if (error instanceof Error && 'code' in error && typeof error.code === 'string' && error.code.startsWith('E')) {
      io.err(`podnet: ${file}: ${error.message}`);
      return 1;
    }
    throw error;
  }
  return 0;
}

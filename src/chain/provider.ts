import { JsonRpcApiProvider, JsonRpcPayload, JsonRpcResult, Network } from "ethers";
import { Rpc } from "./rpc";

/**
 * An ethers provider whose requests go through the gateway's RPC client, so signing, estimating and sending
 * fail over between the consortium member's nodes exactly as the indexer's reads do.
 */
export class FailoverProvider extends JsonRpcApiProvider {
  constructor(private readonly rpc: Rpc, network: Network) {
    super(network, { staticNetwork: network, batchMaxCount: 1, pollingInterval: 250 });
  }

  async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    const res = await this.rpc.raw(payload);
    return (Array.isArray(res) ? res : [res]) as JsonRpcResult[];
  }
}

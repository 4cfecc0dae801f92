// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @notice Test helper: recomputes a usage record's leaf as docs/merkle.md specifies and verifies its proof with
///         OpenZeppelin's MerkleProof, independently of the oracle's Python code.
contract LeafCheck {
    function leaf(
        address agreement,
        uint8 meter,
        uint32 period,
        uint256 quantity,
        uint64 occurredAtMicros,
        string calldata source,
        string calldata recordId
    ) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(agreement, meter, period, quantity, occurredAtMicros, uint8(bytes(source).length), source, recordId)
        );
    }

    function verify(bytes32[] calldata proof, bytes32 root, bytes32 leafHash) external pure returns (bool) {
        return MerkleProof.verify(proof, root, leafHash);
    }
}

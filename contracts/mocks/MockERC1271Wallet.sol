// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title MockERC1271Wallet
/// @notice A contract wallet (like a one-owner Safe) for tests: a signature is valid when its owner signed the hash.
contract MockERC1271Wallet is IERC1271 {
    address public immutable owner;

    /// @notice Only the owner may execute.
    error MockERC1271Wallet_NotOwner(address caller);

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    /// @notice Lets the wallet send transactions (calls) as itself.
    function execute(address target, bytes calldata data) external returns (bytes memory) {
        if (msg.sender != owner) revert MockERC1271Wallet_NotOwner(msg.sender);
        (bool ok, bytes memory result) = target.call(data);
        if (!ok) {
            assembly {
                revert(add(result, 0x20), mload(result))
            }
        }
        return result;
    }
}

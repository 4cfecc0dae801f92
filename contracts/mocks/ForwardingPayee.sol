// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {IMockTokenReceiver} from "./MockToken.sol";

/// @title ForwardingPayee
/// @notice A payee contract for tests only (like a sweeping treasury wallet): whatever tokens it receives through a
///         receipt hook it passes on to `sink` at once, so its own balance never grows. Used to show that an
///         agreement measures a payment where it leaves the payer, not where it arrives.
contract ForwardingPayee is IMockTokenReceiver {
    using SafeERC20 for IERC20;

    address public immutable sink;

    constructor(address sink_) {
        sink = sink_;
    }

    /// @notice Passes the whole balance of the calling token on to `sink`.
    function onTokenReceived(address, uint256) external {
        IERC20 token = IERC20(msg.sender);
        token.safeTransfer(sink, token.balanceOf(address(this)));
    }
}

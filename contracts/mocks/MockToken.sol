// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockToken
/// @notice Receives the receipt hook of `MockToken` in mode `ReceiveHook` (like ERC-777/ERC-1363 tokens).
interface IMockTokenReceiver {
    function onTokenReceived(address from, uint256 value) external;
}

/// @notice An ERC-20 with switchable misbehaviour for tests only: transferFrom returning false or reverting, a
///         fee on transfer, a failing balanceOf, a callback into another contract during transferFrom (to
///         test reentrancy guards), and a receipt hook that calls the recipient after a transferFrom (so a recipient
///         contract can pass the tokens on at once). Never deploy it anywhere that holds value.
contract MockToken is ERC20 {
    enum Mode {
        Normal,
        ReturnFalse,
        Revert,
        Fee,
        BalanceOfReverts,
        BalanceOfRevertsAfterTransfer,
        Reenter,
        ReceiveHook
    }

    /// @notice The mode makes this call fail.
    error MockToken_Failure(string what);

    uint8 private immutable _decimals;
    Mode public mode;
    uint256 public feeBps;
    address public reenterTarget;
    bytes public reenterData;
    bool public reenterSucceeded;
    bytes public reenterResult;
    bool private _transferred;

    constructor(uint8 decimals_) ERC20("Mock Token", "MOCK") {
        _decimals = decimals_;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setMode(Mode m) external {
        mode = m;
        _transferred = false;
    }

    function setFeeBps(uint256 bps) external {
        feeBps = bps;
    }

    function setReenter(address target, bytes calldata data) external {
        reenterTarget = target;
        reenterData = data;
    }

    function balanceOf(address account) public view override returns (uint256) {
        if (mode == Mode.BalanceOfReverts) revert MockToken_Failure("balanceOf");
        if (mode == Mode.BalanceOfRevertsAfterTransfer && _transferred) revert MockToken_Failure("balanceOf");
        return super.balanceOf(account);
    }

    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (mode == Mode.ReturnFalse) return false;
        if (mode == Mode.Revert) revert MockToken_Failure("transferFrom");
        if (mode == Mode.Reenter) {
            (reenterSucceeded, reenterResult) = reenterTarget.call(reenterData);
        }
        _spendAllowance(from, msg.sender, value);
        if (mode == Mode.Fee) {
            uint256 fee = value * feeBps / 10_000;
            _transfer(from, address(0xFEE), fee);
            _transfer(from, to, value - fee);
        } else {
            _transfer(from, to, value);
        }
        _transferred = true;
        if (mode == Mode.ReceiveHook && to.code.length != 0) IMockTokenReceiver(to).onTokenReceived(from, value);
        return true;
    }
}
